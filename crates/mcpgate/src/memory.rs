//! The allocator: mimalloc, set up for a small resident set.
//!
//! Every tool call allocates and frees a few hundred small blocks (hyper's buffers, header
//! maps, JSON values, the log line). mimalloc's thread-local free lists do that in far fewer
//! instructions than glibc malloc: callgrind counted 171.6k → 151.1k user-space instructions
//! per HTTP `tools/call` (`scripts/bench_instructions.sh`).
//!
//! Its defaults trade memory for speed: transparent huge pages asked for with `madvise`
//! (the seed profile idled at 21 MiB instead of 12.5), arena memory committed eagerly, and
//! freed pages returned a second late (GitHub's spec peaked at 92 MiB). The crate is built
//! without the huge-page advice (feature `no_thp`) and [`configure`] asks for memory
//! committed on demand and, during start-up, returned at once: petstore idles at 12.7 MiB
//! (glibc: 12.9) and GitHub's load peaks at 45 MiB (glibc: 47), with the same instructions
//! per call.
//!
//! Once serving ([`serving`]), freed memory is returned after 100 ms instead: returned at
//! once, the pages a tool call frees go back to the kernel and the next call faults them in
//! again, 0.8 page faults per call at 64 connections and ~10 % of the CPU a call costs
//! (`perf stat`: 175k faults in 4 s, 5k with 100 ms; CPU per call 30.5 → 26.6 µs, four
//! alternated runs each).
//!
//! mimalloc's crates name its options only by the C enum's numbers, some not at all; the two
//! used here are checked below. This module holds the workspace's only `unsafe` code.

/// `mi_option_arena_eager_commit` in the vendored mimalloc v3 `mimalloc.h`.
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// `mi_option_purge_delay` in the vendored mimalloc v3 `mimalloc.h`.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the allocator before it is returned to the OS.
const PURGE_DELAY_MS: std::os::raw::c_long = 100;

/// Sets mimalloc's options: arena memory committed when used, freed memory returned at once.
/// Call it first thing in `main`.
#[allow(unsafe_code)]
pub fn configure() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table (atomics); the
    // option numbers are those of the vendored header (test below).
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

/// Once start-up's garbage is returned ([`release_free_memory`]): freed memory is kept
/// 100 ms before it is returned, for the next request to reuse.
#[allow(unsafe_code)]
pub fn serving() {
    // SAFETY: as in `configure`; mimalloc reads the option each time it schedules a purge.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) }
}

/// Returns the allocator's free pages to the OS (after start-up: the spec's parse tree and
/// the resolved spec are freed by then).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: `mi_collect` takes a flag and only walks mimalloc's own heaps.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::{ARENA_EAGER_COMMIT, PURGE_DELAY};

    /// The numbers used above name the options the header documents with these defaults
    /// (`arena_eager_commit` = 2, `purge_delay` = 1000 ms, in `options.c`): a renumbered enum in a new mimalloc
    /// would show here. Tests run without the `MIMALLOC_*` variables.
    #[test]
    #[allow(unsafe_code)]
    fn option_numbers_name_the_options_meant() {
        // SAFETY: reads mimalloc's option table.
        let (eager, delay) = unsafe {
            (
                libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT),
                libmimalloc_sys::mi_option_get(PURGE_DELAY),
            )
        };
        assert_eq!((eager, delay), (2, 1000));
    }
}
