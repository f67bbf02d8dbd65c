//! Transparent huge pages for glibc's malloc heaps.
//!
//! A busy host's plan touches ~12 MB of heap: without huge pages that is ~3,000 page faults,
//! at 1.5-2 µs each in a VM a tenth of the run. glibc backs its heaps with THP when started
//! with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, which only the environment at exec can set;
//! this asks the kernel the same from inside, with madvise(MADV_HUGEPAGE) over the main
//! heap's slack and over each thread's arena. glibc writes its headers at the start of a
//! heap before the advice can be given, and a 2 MiB range with one small page in it stays in
//! small pages, so the part of a heap below its first 2 MiB boundary is filled with blocks
//! that are never used. (MADV_COLLAPSE would fix the range in place, but it drains every
//! CPU's page lists first: 0.2 ms usually, 2-5 ms in one run out of four here.) All of this
//! is a hint: with THP off, or another libc, nothing changes but the slack.
//!
//! qfix's threads are spawned here too, and placed (`Place`): the longest job of a phase on
//! another core than the main thread (`spawn_apart`), a helper of a shared pool beside it
//! (`spawn_beside`).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use nix::libc;

    const HUGE: usize = 2 << 20;
    /// glibc's HEAP_MAX_SIZE on 64-bit: a thread arena's heap is a mapping of this size,
    /// aligned to it, so any chunk of the arena locates it.
    const ARENA_HEAP: usize = 64 << 20;

    /// glibc grows a heap a page or two at a time, each growth an mprotect (700 of them on a
    /// busy host's nginx scan, each a TLB flush across the process's CPUs), and a 2 MiB
    /// range only partly grown into takes small pages. A top pad of 64 MiB makes a thread's
    /// arena (64 MiB at most) writable whole from the start and the main heap grow in 64 MiB
    /// steps; untouched slack costs no memory. Blocks of up to 32 MiB (glibc's largest
    /// threshold) come from these heaps rather than from mmaps of their own, which would
    /// take small pages (ten times the busy host: 22,000 page faults before, 250 with this
    /// and `services::Scan::here`).
    ///
    /// Then the main heap is grown by that slack and huge pages advised over the new part
    /// from its first 2 MiB boundary, before anything is written there; below the boundary
    /// is filled (`fill_to`), so the run's allocations start above it. Call once, first
    /// thing in `main`.
    pub fn tune() {
        // SAFETY: mallopt only sets an allocator parameter
        unsafe {
            libc::mallopt(libc::M_TOP_PAD, 64 << 20);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        }
        main_heap();
    }

    /// Below glibc's default mmap threshold (128 KiB), so blocks come from the heap even
    /// before `tune`.
    const BLOCK: usize = 120 << 10;
    /// glibc's chunk layout on 64-bit: a block's chunk starts 16 bytes before it, and a
    /// request of `n` bytes takes a chunk of `n + 8` rounded up to 16, 32 at least.
    const HEADER: usize = 16;
    fn chunk_size(n: usize) -> usize {
        ((n + 8 + 15) & !15).max(32)
    }

    /// Allocate blocks, kept for the life of the process, until the free top of the calling
    /// thread's heap starts exactly at `boundary`: the next write above it is then the top's
    /// header at `boundary` itself, and an advised range takes it as a huge page. The blocks
    /// cost address space and one written page each. When the heap does not behave as
    /// expected (a block from elsewhere than the top), it stops: the only effect is fewer
    /// huge pages.
    unsafe fn fill_to(boundary: usize) {
        // SAFETY (for the caller): plain malloc calls; what is kept is never touched again
        unsafe {
            let mut first = true;
            loop {
                let p = libc::malloc(BLOCK) as usize;
                if p == 0 {
                    return;
                }
                let top = p - HEADER + chunk_size(BLOCK);
                let Some(rest) = boundary.checked_sub(top) else {
                    if first {
                        // the top is above the boundary already (a reused arena)
                        libc::free(p as *mut _);
                    }
                    return;
                };
                first = false;
                if rest >= chunk_size(BLOCK) + 32 {
                    continue;
                }
                // `rest` is a multiple of 16: this request's chunk is exactly `rest`
                if rest >= 32 {
                    libc::malloc(rest - 8);
                }
                return;
            }
        }
    }

    fn main_heap() {
        // SAFETY: sbrk(0) only reads the break; blocks are malloc'ed and kept for the life
        // of the process; madvise is a hint on our own heap mapping
        unsafe {
            let before = libc::sbrk(0) as usize;
            // grow the heap (by the top pad) with blocks that do not fit its start
            let mut top = None;
            for _ in 0..8 {
                let p = libc::malloc(BLOCK) as usize;
                if p == 0 {
                    return;
                }
                top = Some(p - HEADER + chunk_size(BLOCK));
                if libc::sbrk(0) as usize != before {
                    break;
                }
            }
            let after = libc::sbrk(0) as usize;
            let Some(boundary) = top.map(|t| t.next_multiple_of(HUGE)) else {
                return;
            };
            if boundary >= after {
                return;
            }
            libc::madvise(boundary as *mut _, after - boundary, libc::MADV_HUGEPAGE);
            fill_to(boundary);
        }
    }

    /// Advise huge pages over the calling thread's arena heap, and start its allocations at
    /// its first 2 MiB boundary (glibc wrote the arena's header below it before the advice,
    /// which keeps that range in small pages). Call first thing in a thread that allocates
    /// megabytes.
    pub fn thread_heap() {
        // SAFETY: the probe is freed at once; madvise is a hint on the arena's own mapping,
        // which glibc aligns to ARENA_HEAP; a block of the main arena (below the break) is
        // left alone
        unsafe {
            // larger than glibc's per-thread cache holds, whose blocks may come from any arena
            let p = libc::malloc(4096);
            let at = p as usize;
            libc::free(p);
            if at != 0 && at >= libc::sbrk(0) as usize {
                let heap = at & !(ARENA_HEAP - 1);
                libc::madvise(heap as *mut _, ARENA_HEAP, libc::MADV_HUGEPAGE);
                // a reused arena is filled already
                if at < heap + HUGE {
                    fill_to(heap + HUGE);
                }
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

/// Where a new thread runs, relative to the core of the thread that spawns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Wherever Linux puts it.
    Anywhere,
    /// On the other cores: for the longest job of a phase (nginx's scan, the findings), so it
    /// runs beside its spawner.
    Apart,
    /// On the spawner's core: for a helper of a shared pool of work (the live values), which
    /// fills that core's gaps rather than slowing the longest job on the other one; the other
    /// threads finish its pool if it falls behind.
    Beside,
}

/// Spawn `f` on a scoped thread whose arena is advised huge pages first: qfix's threads each
/// allocate megabytes.
pub fn spawn<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    spawn_at(s, Place::Anywhere, f)
}

/// `spawn` on other cores than the caller's (see `Place::Apart`).
pub fn spawn_apart<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    spawn_at(s, Place::Apart, f)
}

/// `spawn` on the caller's core (see `Place::Beside`).
pub fn spawn_beside<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    spawn_at(s, Place::Beside, f)
}

fn spawn_at<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    place: Place,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    let parent = (place != Place::Anywhere).then(current_cpu).flatten();
    let h = s.spawn(move || {
        if let Some(cpu) = parent {
            settle(place, cpu);
        }
        thread_heap();
        f()
    });
    // The new thread starts queued on this core, behind this thread: until this thread's
    // time slice ends (3.8 ms median, measured with a C probe on this VM) it cannot run to
    // move itself away. A yield lets it settle at once (0.1 ms) and this thread go on.
    if place == Place::Apart && parent.is_some() {
        std::thread::yield_now();
    }
    h
}

fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu only reads the calling thread's CPU
        let cpu = unsafe { nix::libc::sched_getcpu() };
        usize::try_from(cpu).ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Keep the calling thread, for the rest of its life, off core `parent` (`Apart`) or on it
/// (`Beside`).
///
/// Linux starts a new thread on its parent's core, and a scheduler that packs work onto few
/// cores (as this 2-vCPU VM's does) may leave both there while the other core idles: traced
/// with `perf sched`, the nginx scan and the main thread took turns on one core for 10 ms and
/// more, the second core idle. A process allowed one core, or not the parent's, is left
/// alone.
fn settle(place: Place, parent: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: reads and sets the calling thread's own affinity mask, a plain bit set
    unsafe {
        use nix::libc::{
            CPU_CLR, CPU_COUNT, CPU_ISSET, CPU_SET, cpu_set_t, sched_getaffinity, sched_setaffinity,
        };
        let mut set: cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<cpu_set_t>();
        if parent >= 8 * size || sched_getaffinity(0, size, &mut set) != 0 {
            return;
        }
        if CPU_COUNT(&set) < 2 || !CPU_ISSET(parent, &set) {
            return;
        }
        match place {
            Place::Anywhere => return,
            Place::Apart => CPU_CLR(parent, &mut set),
            Place::Beside => {
                set = std::mem::zeroed();
                CPU_SET(parent, &mut set);
            }
        }
        sched_setaffinity(0, size, &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (place, parent);
}

/// The thread's result; a panic in it is a bug, surfaced as one.
pub fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn allowed() -> Vec<usize> {
        // SAFETY: reads the calling thread's own affinity mask
        unsafe {
            let mut set: nix::libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<nix::libc::cpu_set_t>();
            assert_eq!(nix::libc::sched_getaffinity(0, size, &mut set), 0);
            (0..8 * size)
                .filter(|&c| nix::libc::CPU_ISSET(c, &set))
                .collect()
        }
    }

    /// A thread settled apart from a core may run on every other allowed core, and not that
    /// one; one settled beside it runs there only; with a single core allowed nothing changes.
    #[test]
    fn issue5_apart_threads_leave_only_the_parents_core() {
        let before = allowed();
        let parent = before[0];
        // the cores a new thread may use once settled
        let settled = |place, cpu| {
            std::thread::spawn(move || {
                settle(place, cpu);
                allowed()
            })
            .join()
            .unwrap()
        };
        let apart = settled(Place::Apart, parent);
        let beside = settled(Place::Beside, parent);
        if before.len() < 2 {
            assert_eq!((&apart, &beside), (&before, &before));
        } else {
            let others: Vec<usize> = before.iter().copied().filter(|&c| c != parent).collect();
            assert_eq!(apart, others);
            assert_eq!(beside, [parent]);
        }
        // a core the process may not use: left alone
        let outside = 8 * std::mem::size_of::<nix::libc::cpu_set_t>();
        assert_eq!(settled(Place::Apart, outside), before);
    }
}
