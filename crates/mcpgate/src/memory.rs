//! Giving freed heap memory back to the operating system after start-up.
//!
//! Loading a large spec builds a document tree several times the size of what is kept (GitHub:
//! ~68 MB at the peak, ~20 MB kept). glibc keeps freed chunks that sit between live ones in
//! its arenas, so without help the process stays at its start-up peak for its whole life.
//! `malloc_trim(0)` walks the arenas and returns every whole free page (`madvise`).
//!
//! This is the only `unsafe` in the workspace: no maintained crate wraps the call.

/// Returns the allocator's free pages to the OS; `true` when some memory was released.
/// A no-op (false) where the allocator is not glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() -> bool {
    // SAFETY: `malloc_trim` takes a plain integer, touches only glibc's own allocator state
    // (under its arena locks; MT-Safe per its manual) and has no caller-side invariant.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Returns the allocator's free pages to the OS; a no-op where the allocator is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}
