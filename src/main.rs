//! The `gregor` multi-call binary: everything lives in the library.
fn main() -> std::process::ExitCode {
    gregor::cli::main()
}
