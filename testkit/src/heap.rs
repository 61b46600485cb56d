//! Heap footprints for the memory benchmarks, counted by dhat's allocator
//! (the benchmark binary installs `dhat::Alloc` as its global allocator and
//! starts a `dhat::Profiler` in testing mode): the bytes asked of the
//! allocator and the blocks, and an estimate of what becomes resident
//! (glibc adds 8 to 16 bytes of bookkeeping per block; the estimate adds
//! 16).

/// The heap now: (bytes, blocks).
pub fn heap() -> (usize, usize) {
    let stats = dhat::HeapStats::get();
    (stats.curr_bytes, stats.curr_blocks)
}

/// Heap growth while `build` makes what it returns, kept alive: (what it
/// made, bytes, blocks).
pub fn footprint<T>(build: impl FnOnce() -> T) -> (T, usize, usize) {
    let (bytes, blocks) = heap();
    let kept = build();
    let (after_bytes, after_blocks) = heap();
    (
        kept,
        after_bytes.saturating_sub(bytes),
        after_blocks.saturating_sub(blocks),
    )
}

/// The header of [`row`]'s table, for `objects` objects.
pub fn header(objects: usize) {
    println!(
        "{:<48} {:>9} {:>10} {:>12} {:>13}",
        "held as",
        "bytes/obj",
        "blocks/obj",
        format!("MiB ({objects})"),
        "MiB w/ malloc"
    );
}

/// One line of the table: `bytes` and `blocks` for `objects` objects, per
/// object and in all, and in all with 16 bytes per block.
///
/// ```
/// assert_eq!(rollgate_testkit::heap::per_object(2048, 1000), 2.048);
/// ```
pub fn row(name: &str, objects: usize, bytes: usize, blocks: usize) {
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "{name:<48} {:>9.0} {:>10.1} {:>12.2} {:>13.2}",
        per_object(bytes, objects),
        per_object(blocks, objects),
        mib(bytes),
        mib(bytes + 16 * blocks)
    );
}

/// `total / objects`, as a float.
pub fn per_object(total: usize, objects: usize) -> f64 {
    total as f64 / objects.max(1) as f64
}
