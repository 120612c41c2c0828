//! Build script: with feature `torch`, bake libtorch's directory into the binary's rpath so
//! `ratlab` finds libtorch without `LD_LIBRARY_PATH`.

fn main() {
    // torch-sys (links = "tch") exports the directory it linked against to direct dependents.
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
