fn main() {
    // malloc's slack and huge pages: see `qfix::heap`
    qfix::heap::tune();
    std::process::exit(qfix::cli::main());
}
