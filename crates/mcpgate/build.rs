//! Link flags of the `mcpgate` binary.

fn main() {
    // Relative relocations packed as a bitmap (`DT_RELR`): the binary's 24k relative
    // relocations take 5 KiB instead of 590 KiB, which the dynamic loader reads at every start
    // and which stayed resident (idle RSS −0.5 MiB). Needs binutils ≥ 2.38 to link and
    // glibc ≥ 2.36 to run: Debian 12, the builder and runtime images of the Dockerfile.
    #[allow(clippy::disallowed_methods)] // a build script reads cargo's variables
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if gnu_linux {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
