//! Build script: bake libtorch's directory into the rpath, so the worker finds libtorch without
//! `LD_LIBRARY_PATH`, and keep `libtorch_cuda` linked when the wheel has it. Nothing in our code
//! calls into libtorch_cuda directly, so the linker's `--as-needed` would drop it and CUDA would
//! never be seen; `--no-as-needed` around it keeps it.

fn main() {
    // torch-sys (links = "tch") exports the directory it linked against to direct dependents.
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
            println!("cargo:rustc-link-arg=-ltorch_cuda");
            println!("cargo:rustc-link-arg=-Wl,--as-needed");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
