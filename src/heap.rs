//! Transparent huge pages for glibc's malloc heaps.
//!
//! A busy host's plan touches ~12 MB of heap: without huge pages that is ~3,000 page faults,
//! at 1.5-2 µs each in a VM a tenth of the run. glibc backs its heaps with THP when started
//! with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, which only the environment at exec can set;
//! this asks the kernel the same from inside, with madvise(MADV_HUGEPAGE) over the main
//! heap's slack and over each thread's arena. glibc writes its headers at the start of a
//! heap before the advice can be given, and a 2 MiB range with one small page in it stays in
//! small pages; so the main heap's start is skipped and an arena's first 2 MiB collapsed
//! (MADV_COLLAPSE, Linux 6.1). Both are hints: with THP off, an older kernel, or another
//! libc, nothing changes.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use nix::libc;

    const HUGE: usize = 2 << 20;
    /// glibc's HEAP_MAX_SIZE on 64-bit: a thread arena's heap is a mapping of this size,
    /// aligned to it, so any chunk of the arena locates it.
    const ARENA_HEAP: usize = 64 << 20;

    /// glibc grows a heap a page or two at a time, each growth an mprotect (700 of them on a
    /// busy host's nginx scan, each a TLB flush across the process's CPUs): asking for 8 MiB
    /// of slack per growth makes that a handful, and untouched slack costs no memory.
    ///
    /// Then the main heap is grown by that slack and huge pages advised over the new part,
    /// before anything is written there. The heap's start is not aligned,
    /// so the part below the first 2 MiB boundary cannot be a huge page: it is filled with
    /// blocks kept for the whole run (address space only, a header page each), so the run's
    /// allocations land above it. Call once, first thing in `main`.
    pub fn tune() {
        // SAFETY: mallopt only sets an allocator parameter
        unsafe {
            libc::mallopt(libc::M_TOP_PAD, 8 << 20);
        }
        main_heap();
    }

    fn main_heap() {
        // below glibc's mmap threshold (128 KiB), so the blocks come from the heap
        const BLOCK: usize = 64 << 10;
        // SAFETY: sbrk(0) only reads the break; blocks are malloc'ed and either freed or
        // kept for the life of the process; madvise is a hint on our own heap mapping
        unsafe {
            let before = libc::sbrk(0) as usize;
            let start = before.next_multiple_of(HUGE);
            let mut blocks = Vec::with_capacity(64);
            while blocks.len() < 64 {
                let p = libc::malloc(BLOCK);
                if p.is_null() {
                    break;
                }
                blocks.push(p);
                if libc::sbrk(0) as usize != before && p as usize + BLOCK > start {
                    break;
                }
            }
            let after = libc::sbrk(0) as usize;
            if after <= start {
                blocks.into_iter().for_each(|p| libc::free(p));
                return;
            }
            // while the blocks hold the heap at its full size: freeing lets glibc trim it
            libc::madvise(start as *mut _, after - start, libc::MADV_HUGEPAGE);
            // the last block wrote a header above `start` before the advice, which would
            // keep that first 2 MiB in small pages
            libc::madvise(
                start as *mut _,
                HUGE.min(after - start),
                libc::MADV_COLLAPSE,
            );
            for p in blocks.into_iter().rev() {
                if p as usize + BLOCK > start {
                    libc::free(p);
                }
            }
        }
    }

    /// Advise huge pages over the calling thread's arena heap. Call first thing in a thread
    /// that allocates megabytes.
    pub fn thread_heap() {
        // SAFETY: the block is freed at once; madvise is a hint on the arena's own mapping,
        // which glibc aligns to ARENA_HEAP; a block of the main arena (below the break) is
        // left alone
        unsafe {
            // larger than glibc's per-thread cache holds, whose blocks may come from any arena
            let p = libc::malloc(4096);
            let at = p as usize;
            libc::free(p);
            if at != 0 && at >= libc::sbrk(0) as usize {
                let heap = (at & !(ARENA_HEAP - 1)) as *mut libc::c_void;
                libc::madvise(heap, ARENA_HEAP, libc::MADV_HUGEPAGE);
                // glibc wrote the arena's header before the advice, so its first 2 MiB
                // would stay small pages (512 faults): collapse it into one now
                libc::madvise(heap, HUGE, libc::MADV_COLLAPSE);
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn tune() {}
    pub fn thread_heap() {}
}

pub use imp::{thread_heap, tune};

/// Spawn `f` on a scoped thread whose arena is advised huge pages first: qfix's threads each
/// allocate megabytes.
pub fn spawn<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    s.spawn(|| {
        thread_heap();
        f()
    })
}

/// The thread's result; a panic in it is a bug, surfaced as one.
pub fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}
