//! What a panic in the worker was: an error libtorch raised (tch turns every failed libtorch
//! call into a panic inside its own wrappers), or a bug in ratlab-torch. The two read
//! differently to the user, so the worker tells them apart by where the panic happened, not by
//! what its message says.

use std::cell::{Cell, RefCell};
use ratlab::error::panic_text;
use std::panic::{catch_unwind, AssertUnwindSafe, PanicHookInfo};

/// Where and with what a panic happened, recorded by the hook on the panicking thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Caught {
    pub message: String,
    /// Source file of the panic, as the compiler recorded it.
    pub file: String,
    pub line: u32,
}

thread_local! {
    static LAST: RefCell<Option<Caught>> = const { RefCell::new(None) };
    /// Inside [`run`] on this thread: the panic is recorded, not printed.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Inside [`run`], replace the default hook (which prints a backtrace over the runner's event
/// stream) with one that records the panic for [`run`] to describe; panics elsewhere go to the
/// hook there was. Call once, at start.
pub fn install_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        if !CATCHING.with(Cell::get) {
            return previous(info);
        }
        let caught = Caught {
            message: panic_text(info.payload()),
            file: info.location().map(|l| l.file().to_string()).unwrap_or_default(),
            line: info.location().map_or(0, |l| l.line()),
        };
        LAST.with(|l| *l.borrow_mut() = Some(caught));
    }));
}

/// Run `f`; a panic becomes the message a failed run shows.
pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    LAST.with(|l| l.borrow_mut().take());
    let was = CATCHING.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was));
    result.map_err(|p| {
        let caught = LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| Caught { message: panic_text(p.as_ref()), file: String::new(), line: 0 });
        describe(&caught)
    })
}

/// True when the panic happened in the tch crate's own source: libtorch refused a call.
fn in_tch(file: &str) -> bool {
    let file = file.replace('\\', "/");
    file.split('/').any(|part| part == "tch" || (part.starts_with("tch-") && part[4..].starts_with(|c: char| c.is_ascii_digit())))
}

/// The failed run's message: libtorch's own first line for a libtorch error; for anything
/// else, the panic and where it happened, marked as a bug.
pub fn describe(c: &Caught) -> String {
    if in_tch(&c.file) {
        // tch wraps libtorch's message as `Torch("…")`; its first line says what went wrong.
        let inner = c.message.split_once("Torch(\"").map_or(c.message.as_str(), |p| p.1);
        let first = inner.split("\\n").next().unwrap_or("").lines().next().unwrap_or("").trim_end_matches("\")");
        format!("libtorch: {first}")
    } else {
        format!("the torch worker failed at {}:{}: {} (a bug in ratlab-torch, not in your experiment; please report it)", c.file, c.line, c.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    #[test]
    fn a_libtorch_error_and_a_worker_bug_read_differently() {
        install_hook();
        let e = run(|| Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)).matmul(&Tensor::zeros([4, 5], (Kind::Float, Device::Cpu)))).unwrap_err();
        assert!(e.starts_with("libtorch: ") && e.contains("cannot be multiplied"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        let e = run(|| -> usize { [1usize, 2][std::hint::black_box(5)] }).unwrap_err();
        assert!(e.starts_with("the torch worker failed at ") && e.contains("panic.rs:") && e.contains("index out of bounds") && e.contains("a bug in ratlab-torch"), "{e}");
        // Even a message that mentions libtorch is a bug when it is not raised inside tch.
        let e = run(|| panic!("Torch(\"looks like libtorch\")")).unwrap_err();
        assert!(!e.starts_with("libtorch"), "{e}");
        assert_eq!(run(|| 7), Ok(7));
    }

    #[test]
    fn tch_sources_are_told_apart_by_their_path() {
        assert!(in_tch("/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tch-0.26.0/src/wrappers/tensor_generated.rs"));
        assert!(in_tch("C:\\cargo\\registry\\src\\x\\tch-0.26.0\\src\\wrappers\\tensor.rs"));
        assert!(!in_tch("torch/src/train.rs"));
        assert!(!in_tch("/home/u/tch-notes/src/x.rs"));
    }
}
