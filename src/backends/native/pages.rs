//! Large buffers asked for in 2 MB pages: the bin codes, row statistics and margins of gradient
//! boosting, read at scattered rows every round, cost a TLB miss per row in 4 KB pages.

/// Bytes of a huge page (x86-64 and most Linux configurations).
const HUGE_PAGE: usize = 2 << 20;

/// `n` copies of `value` in memory the kernel is asked to back with huge pages (Linux
/// transparent huge pages, which most distributions enable for memory that asks: `madvise`
/// mode). The advice comes before the first write, so the pages are huge from the start;
/// where the kernel says no, or off Linux, this is `vec![value; n]`.
///
/// Why: on 11M rows × 28 features a round reads the codes of scattered rows from 308 MB and
/// their statistics from 176 MB; numpy asks for huge pages for its large arrays, which is
/// what xgboost and LightGBM train from.
pub fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise(v.as_mut_ptr().cast(), n.saturating_mul(size_of::<T>()));
    v.resize(n, value);
    v
}

/// Ask for huge pages for the whole huge pages inside `len` bytes at `p` (a hint: nothing
/// changes in what the memory holds, and a refusal is harmless).
fn advise(p: *mut u8, len: usize) {
    let start = (p as usize).next_multiple_of(HUGE_PAGE);
    let end = (p as usize).saturating_add(len) / HUGE_PAGE * HUGE_PAGE;
    if end <= start {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: the range lies inside an allocation this process owns (the vector's capacity), and
    // MADV_HUGEPAGE only changes how the kernel backs it, never what it holds.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_buffer_holds_its_values_whatever_its_pages() {
        for n in [0, 1, 5, HUGE_PAGE / 8 + 3, 3 * HUGE_PAGE / 8] {
            let v = filled(n, 7.5f64);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 7.5));
        }
    }
}
