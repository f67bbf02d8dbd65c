fn main() {
    std::process::exit(qfix::cli::main());
}
