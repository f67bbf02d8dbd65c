use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use super::lexer::{Kind, Lexer, SyntaxError, Token, unescape};
use super::listeners::{
    Addr, DEFAULT_REASON, NO_LISTEN_REASON, RELOAD_REASON, parse_addr, parse_backlog,
};
use super::parser::{Parsed, parse};
use crate::edit::{self, Edit};
use crate::host::Host;
use crate::root::{self, Root};
use crate::services::{Action, Listener, Location, Scan, Source};

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn host_at(dir: &Path) -> Host {
    Host::new(Root::new(dir).unwrap())
}

fn scan_dir(dir: &Path) -> Scan {
    let host = host_at(dir);
    let mut s = Scan::default();
    super::scan(&host, &mut s);
    s
}

fn run(name: &str) -> Scan {
    scan_dir(&fixture_dir(name))
}

fn at(path: &str, line: usize) -> Source {
    Source::At(Location {
        path: path.into(),
        line,
    })
}

fn dflt() -> Source {
    Source::Default(DEFAULT_REASON.into())
}

type Row = (String, String, Option<i64>, Source);

fn row(instance: &str, address: &str, requested: Option<i64>, source: Source) -> Row {
    (instance.into(), address.into(), requested, source)
}

fn rows(s: &Scan) -> Vec<Row> {
    s.listeners
        .iter()
        .map(|l| {
            (
                l.instance.clone(),
                l.address.clone(),
                l.requested,
                l.source.clone(),
            )
        })
        .collect()
}

fn problems(s: &Scan) -> Vec<(String, usize, String)> {
    s.problems
        .iter()
        .map(|p| {
            (
                p.location.path.to_string(),
                p.location.line,
                p.message.clone(),
            )
        })
        .collect()
}

/// The listener's file after its setter wrote `value`.
fn edited(dir: &Path, l: &Listener, value: &str) -> (String, String) {
    let s = l.setter.as_ref().expect("listener has a setter");
    let text = fs::read_to_string(dir.join(s.path.trim_start_matches('/'))).unwrap();
    let out = edit::apply(
        &text,
        &[Edit::replace(
            s.range.clone(),
            s.template.replace("{}", value),
        )],
    );
    (s.path.to_string(), out)
}

fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap();
        } else if ft.is_dir() {
            copy_tree(&from, &to);
        } else {
            fs::copy(&from, &to).unwrap();
        }
    }
}

/// Apply listener `i`'s setter with 4096 in a copy of the fixture, check the edited file is
/// exactly `expect`, rescan, and return the new scan.
fn set_and_rescan(name: &str, i: usize, expect: &str) -> Scan {
    let src = fixture_dir(name);
    let s = run(name);
    let (path, out) = edited(&src, &s.listeners[i], "4096");
    assert_eq!(out, expect, "edited {path}");
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&src, tmp.path());
    fs::write(tmp.path().join(path.trim_start_matches('/')), out).unwrap();
    let again = scan_dir(tmp.path());
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    again
}

// ------------------------------------------------------------------------------ tokenizer

/// Every token of `text`, spaces and comments too, and the lexer's errors.
fn tokenize(text: &str) -> (Vec<Token>, Vec<SyntaxError>) {
    let mut lexer = Lexer::new(text);
    let tokens = lexer.by_ref().collect();
    (tokens, lexer.into_errors())
}

fn round_trip(text: &str) {
    let (toks, _) = tokenize(text);
    let mut pos = 0;
    let mut out = String::new();
    for t in &toks {
        assert_eq!(t.span.start, pos, "tokens are contiguous");
        out.push_str(&text[t.span.clone()]);
        pos = t.span.end;
    }
    assert_eq!(out, text);
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn tokens_reproduce_every_nginx_file_byte_for_byte() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    all_files(&fx.join("debian-stock/etc/nginx"), &mut files);
    for e in fs::read_dir(&fx).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("nginx-")
        {
            all_files(&p, &mut files);
        }
    }
    assert!(files.len() > 30, "{files:?}");
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        round_trip(&text);
    }
    for t in [
        "",
        "a",
        "\"unterminated",
        "a \\",
        "x '\\'' \"\\\"\" y;\n",
        "é { ü \"ß\" }",
        "a\\\nb;",
        "}}}{{{;;",
    ] {
        round_trip(t);
    }
}

fn nginx_fixture_files() -> Vec<PathBuf> {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    for e in fs::read_dir(&fx).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("nginx-") || name == "debian-stock" {
            all_files(&p, &mut files);
        }
    }
    files
}

/// A parse as a tree of values, to compare.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    name: String,
    args: Vec<String>,
    block: Option<Vec<Node>>,
}

fn tree(p: &Parsed, text: &str) -> Vec<Node> {
    fn nodes(p: &Parsed, text: &str, range: std::ops::Range<usize>) -> Vec<Node> {
        let mut out = Vec::new();
        let mut i = range.start;
        while i < range.end {
            let d = &p.directives[i];
            out.push(Node {
                name: p.name(d).value(text).into_owned(),
                args: (p.args(d).iter())
                    .map(|a| a.value(text).into_owned())
                    .collect(),
                block: d.block_end.map(|end| nodes(p, text, i + 1..end)),
            });
            i = d.block_end.unwrap_or(i + 1);
        }
        out
    }
    nodes(p, text, 0..p.directives.len())
}

/// Every word of a well-formed file is a directive's name or argument, in order.
#[test]
fn parser_keeps_every_word_the_lexer_reads() {
    let mut checked = 0;
    for f in nginx_fixture_files() {
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        let (p, errs) = parse(&text);
        if !errs.is_empty() {
            continue;
        }
        let got: Vec<_> = (p.directives.iter())
            .flat_map(|d| std::iter::once(p.name(d)).chain(p.args(d)))
            .map(|w| w.span.clone())
            .collect();
        let want: Vec<_> = (tokenize(&text).0.into_iter())
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.span)
            .collect();
        assert_eq!(got, want, "{}", f.display());
        checked += 1;
    }
    assert!(checked > 30, "{checked} files");
}

#[test]
fn tokenizer_follows_nginx_word_rules() {
    let text = "a ${b}} \"c{;}#\" 'd\\'e' f#g # h;\n;";
    let (toks, errs) = tokenize(text);
    assert!(errs.is_empty(), "{errs:?}");
    let got: Vec<(Kind, &str)> = toks
        .iter()
        .filter(|t| t.kind != Kind::Space)
        .map(|t| (t.kind, &text[t.span.clone()]))
        .collect();
    assert_eq!(
        got,
        vec![
            (Kind::Word, "a"),
            (Kind::Word, "${b}}"),
            (Kind::Word, "\"c{;}#\""),
            (Kind::Word, "'d\\'e'"),
            (Kind::Word, "f#g"),
            (Kind::Comment, "# h;"),
            (Kind::Semi, ";"),
        ]
    );
    assert_eq!(unescape("'d\\'e'"), "d'e");
    assert_eq!(unescape("\"a\\\"b\\\\c\\td\\x\""), "a\"b\\c\td\\x");
    let lines: Vec<usize> = tokenize("a\n\"b\nc\" # d\n\n;")
        .0
        .iter()
        .map(|t| t.line)
        .collect();
    assert_eq!(lines, [1, 1, 2, 3, 3, 3, 5]);
    let (_, errs) = tokenize("a \"b\"c;");
    assert_eq!(
        errs.len(),
        1,
        "a quoted string must be followed by a separator"
    );
    let (_, errs) = tokenize("if ($a = 'b') {}");
    assert!(errs.is_empty(), "`)` may follow a quote: {errs:?}");
}

#[test]
fn parser_words_keep_their_span_line_and_value() {
    let text = "a \"b\\\"c\"\n  'd e' f\\\ng;\n";
    let (p, errs) = parse(text);
    assert!(errs.is_empty(), "{errs:?}");
    let d = &p.directives[0];
    let words: Vec<_> = std::iter::once(p.name(d)).chain(p.args(d)).collect();
    let values: Vec<Cow<str>> = words.iter().map(|w| w.value(text)).collect();
    let got: Vec<(&str, &str, usize)> = (words.iter().zip(&values))
        .map(|(w, v)| (&text[w.span.clone()], &**v, w.line))
        .collect();
    assert_eq!(
        got,
        [
            ("a", "a", 1),
            ("\"b\\\"c\"", "b\"c", 1),
            ("'d e'", "d e", 2),
            ("f\\\ng", "f\\\ng", 2),
        ]
    );
    assert!(matches!(p.args(d)[1].value(text), Cow::Borrowed(_)));
}

#[test]
fn parser_builds_blocks_and_reports_broken_structure() {
    let text = "http { server { listen 80; } }\n";
    let (p, errs) = parse(text);
    assert!(errs.is_empty());
    let dirs = tree(&p, text);
    assert_eq!(dirs.len(), 1);
    let http = dirs[0].block.as_ref().unwrap();
    let server = http[0].block.as_ref().unwrap();
    assert_eq!(server[0].name, "listen");
    assert_eq!(server[0].args, ["80"]);

    let (_, errs) = parse("a }\n}\nb {\n c");
    let msgs: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(
        msgs,
        vec![
            (1, "unexpected \"}\" (missing \";\" before it)"),
            (2, "unexpected \"}\" (no block to close)"),
            (4, "unexpected end of file, expecting \";\" or \"}\""),
            (4, "unexpected end of file, expecting \"}\""),
        ]
    );
    // deep nesting must not overflow the stack
    let deep = "a {".repeat(200_000);
    let (p, errs) = parse(&deep);
    let dirs = tree(&p, &deep);
    let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "blocks nested more than 64 deep: qfix skips this one",
            "unexpected end of file, expecting \"}\""
        ]
    );
    assert_eq!(dirs.len(), 1);
}

/// A tree in one line: `name(arg,arg){...}`, directives apart by spaces.
fn show(nodes: &[Node]) -> String {
    let one = |n: &Node| {
        let block = n.block.as_ref().map(|b| format!("{{{}}}", show(b)));
        format!(
            "{}({}){}",
            n.name,
            n.args.join(","),
            block.unwrap_or_default()
        )
    };
    nodes.iter().map(one).collect::<Vec<_>>().join(" ")
}

#[test]
fn parser_splits_words_and_blocks_as_nginx_does() {
    for (text, want) in [
        (
            "http { server { listen 80 backlog=5; } }",
            "http(){server(){listen(80,backlog=5)}}",
        ),
        // `${` stays in the word, `$` alone does not hold the brace
        (
            "a b ${c} { listen 1; } x${ { d; }",
            "a(b,${c}){listen(1)} x${(){d()}",
        ),
        ("a b$ { server { } }", "a(b$){server(){}}"),
        ("root /x}y; server_name a;", "root(/x}y) server_name(a)"),
        (
            "add_header X \"a b\" always; listen 81;",
            "add_header(X,a b,always) listen(81)",
        ),
        ("a b # c { d\n e; listen 82;", "a(b,e) listen(82)"),
        ("a b\\; c; include x;", "a(b\\;,c) include(x)"),
        ("a b\\\n c; include y;", "a(b\\\n,c) include(y)"),
        ("a b\n c { listen 83; }", "a(b,c){listen(83)}"),
        (
            "location ~ \\.php$ { include fastcgi_params; }",
            "location(~,\\.php$){include(fastcgi_params)}",
        ),
        (
            "a 'b' c; listen 'x:1' \"backlog=2\";",
            "a(b,c) listen(x:1,backlog=2)",
        ),
        (
            "server {\tlisten 84 ; server_name  x y ;}",
            "server(){listen(84) server_name(x,y)}",
        ),
    ] {
        let (p, errs) = parse(text);
        assert!(errs.is_empty(), "{text}: {errs:?}");
        assert_eq!(show(&tree(&p, text)), want, "{text}");
    }
}

#[test]
fn parser_drops_the_content_of_a_block_without_a_name() {
    let text = "{ a; } b;\nx ${c} { { y { z; } } w; }\n";
    let (p, errs) = parse(text);
    let msgs: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(msgs, [(1, "unexpected \"{\""), (2, "unexpected \"{\"")]);
    let node = |name: &str, args: &[&str], block: Option<Vec<Node>>| Node {
        name: name.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        block,
    };
    assert_eq!(
        tree(&p, text),
        [
            node("b", &[], None),
            node("x", &["${c}"], Some(vec![node("w", &[], None)])),
        ]
    );
}

/// The socket an address names, as nginx compares them.
fn key(a: &Addr) -> String {
    match a {
        Addr::Tcp { port, .. } => format!("{}:{port}", a.key()),
        Addr::Unix(p) => format!("unix:{p}"),
    }
}

#[test]
fn listen_addresses() {
    let ok = |v: &str| parse_addr(v, false).unwrap();
    let show = |v: &str| (ok(v).display(), key(&ok(v)));
    assert_eq!(show("80"), ("tcp *:80".into(), "*:80".into()));
    assert_eq!(show("*:80"), ("tcp *:80".into(), "*:80".into()));
    assert_eq!(show("0.0.0.0:80"), ("tcp 0.0.0.0:80".into(), "*:80".into()));
    assert_eq!(
        show("127.0.0.1:8080"),
        ("tcp 127.0.0.1:8080".into(), "127.0.0.1:8080".into())
    );
    assert_eq!(
        show("127.0.0.1"),
        ("tcp 127.0.0.1:80".into(), "127.0.0.1:80".into())
    );
    assert_eq!(show("[::]:80"), ("tcp [::]:80".into(), "[::]:80".into()));
    assert_eq!(
        show("[0::0]:80"),
        ("tcp [0::0]:80".into(), "[::]:80".into())
    );
    assert_eq!(
        show("[::1]:443"),
        ("tcp [::1]:443".into(), "[::1]:443".into())
    );
    assert_eq!(show("[::1]"), ("tcp [::1]:80".into(), "[::1]:80".into()));
    assert_eq!(
        show("localhost:80"),
        ("tcp localhost:80".into(), "127.0.0.1:80".into())
    );
    assert_eq!(
        show("unix:/run/x.sock"),
        ("unix /run/x.sock".into(), "unix:/run/x.sock".into())
    );
    assert!(
        parse_addr("127.0.0.1", true).is_err(),
        "stream needs a port"
    );
    for bad in [
        "1.2.3.4:0",
        "1.2.3.4:99999",
        "[::1",
        "[::1]x",
        "unix:",
        ":80",
        "a:b",
    ] {
        assert!(parse_addr(bad, false).is_err(), "{bad}");
    }
    assert_eq!(parse_backlog("4096"), Some(4096));
    for bad in ["", "0", "-1", "abc", "1e3", "+5", "99999999999"] {
        assert_eq!(parse_backlog(bad), None, "{bad}");
    }
}

// ------------------------------------------------------------------------------ scans

#[test]
fn debian_stock_default_site() {
    let dir = fixture_dir("debian-stock");
    let s = scan_dir(&dir);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    // sites-enabled/default is a relative link: reported (and edited) at its target
    assert_eq!(
        rows(&s),
        vec![
            row("server _", "tcp *:80", Some(511), dflt()),
            row("server _", "tcp [::]:80", Some(511), dflt()),
        ]
    );
    for l in &s.listeners {
        assert_eq!(l.service, "nginx");
        assert_eq!(l.unit, "nginx");
        assert_eq!(l.action, Action::Reload);
        assert_eq!(l.action_reason, RELOAD_REASON);
        assert_eq!(*l.checker, ["nginx", "-t", "-c", "/etc/nginx/nginx.conf"]);
        assert!(!l.refuses_above_somaxconn);
        let st = l.setter.as_ref().unwrap();
        assert_eq!(&*st.path, "/etc/nginx/sites-available/default");
        assert_eq!(st.template, " backlog={}");
    }
    let (_, out) = edited(&dir, &s.listeners[0], "4096");
    assert!(
        out.contains(
            "\tlisten 80 backlog=4096 default_server;\n\tlisten [::]:80 default_server;\n"
        )
    );
    let (_, out) = edited(&dir, &s.listeners[1], "4096");
    assert!(
        out.contains(
            "\tlisten 80 default_server;\n\tlisten [::]:80 backlog=4096 default_server;\n"
        )
    );
}

#[test]
fn includes_globs_and_relative_paths() {
    let s = run("nginx-includes");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(
        rows(&s),
        vec![
            row("server a.example", "tcp *:8080", Some(511), dflt()),
            // from /etc/nginx/snippets, not the conf.d/snippets decoy
            row("server a.example", "tcp [::1]:8443", Some(511), dflt()),
            row(
                "server b.example",
                "tcp 127.0.0.1:8081",
                Some(256),
                at("/etc/nginx/conf.d/b.conf", 2)
            ),
            row(
                "server at /etc/nginx/sites-available/c:1",
                "tcp localhost:8082",
                Some(511),
                dflt()
            ),
        ]
    );
    let again = set_and_rescan(
        "nginx-includes",
        1,
        "listen [::1]:8443 backlog=4096 http2;\n",
    );
    assert_eq!(
        rows(&again)[1],
        row(
            "server a.example",
            "tcp [::1]:8443",
            Some(4096),
            at("/etc/nginx/snippets/tls.conf", 1)
        )
    );
    let again = set_and_rescan(
        "nginx-includes",
        2,
        "server {\n\tlisten 127.0.0.1:8081 backlog=4096;\n\tserver_name b.example;\n}\n",
    );
    assert_eq!(rows(&again)[2].2, Some(4096));
    let again = set_and_rescan(
        "nginx-includes",
        3,
        "server {\n    listen localhost:8082 backlog=4096 default_server;\n}\n",
    );
    assert_eq!(rows(&again)[3].3, at("/etc/nginx/sites-available/c", 2));
}

#[test]
fn include_loop_is_an_error_and_the_rest_still_scans() {
    let s = run("nginx-loop");
    let errs: Vec<String> = s.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errs,
        vec![
            "/etc/nginx/loop/b.conf:2: nginx: include loop: /etc/nginx/loop/a.conf is already being read (/etc/nginx/nginx.conf -> /etc/nginx/loop/a.conf -> /etc/nginx/loop/b.conf)"
        ]
    );
    assert_eq!(
        rows(&s),
        vec![row("server ok.example", "tcp *:80", Some(511), dflt())]
    );
}

#[test]
fn missing_plain_include_is_a_problem_missing_glob_is_not() {
    let s = run("nginx-missing");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(
        problems(&s),
        vec![(
            "/etc/nginx/nginx.conf".into(),
            5,
            "nginx: include /etc/nginx/extra/missing.conf: no such file (nginx -t fails on a missing include that is not a glob)".into()
        )]
    );
    assert_eq!(
        rows(&s),
        vec![
            row("server _", "tcp *:80", Some(511), dflt()),
            row(
                "server nolisten.example",
                "tcp *:80",
                Some(511),
                Source::Default(NO_LISTEN_REASON.into())
            ),
        ]
    );
    // both share *:80: one edit, on the default_server line
    assert_eq!(s.listeners[0].setter, s.listeners[1].setter);
}

#[test]
fn stream_unix_ipv6_and_server_without_listen() {
    let s = run("nginx-stream");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let conf = "/etc/nginx/nginx.conf";
    assert_eq!(
        rows(&s),
        vec![
            row(
                "stream server at /etc/nginx/nginx.conf:4",
                "tcp 127.0.0.1:5353",
                Some(64),
                at(conf, 5)
            ),
            row(
                "stream server at /etc/nginx/nginx.conf:8",
                "tcp [::1]:6000",
                Some(511),
                dflt()
            ),
            row(
                "stream server at /etc/nginx/nginx.conf:8",
                "tcp *:6001",
                Some(511),
                dflt()
            ),
            row(
                "server web.example",
                "unix /run/nginx/web.sock",
                Some(1024),
                at(conf, 17)
            ),
            row(
                "server nolisten.example",
                "tcp *:80",
                Some(511),
                Source::Default(NO_LISTEN_REASON.into())
            ),
        ]
    );
    assert_eq!(s.listeners[4].setter, None);
    let again = set_and_rescan(
        "nginx-stream",
        1,
        &fs::read_to_string(fixture_dir("nginx-stream/etc/nginx/nginx.conf"))
            .unwrap()
            .replace("[::1]:6000 reuseport", "[::1]:6000 backlog=4096 reuseport"),
    );
    assert_eq!(rows(&again)[1].2, Some(4096));
    assert_eq!(rows(&again)[1].3, at(conf, 9));
    let again = set_and_rescan(
        "nginx-stream",
        3,
        &fs::read_to_string(fixture_dir("nginx-stream/etc/nginx/nginx.conf"))
            .unwrap()
            .replace("web.sock backlog=1024", "web.sock backlog=4096"),
    );
    assert_eq!(rows(&again)[3].2, Some(4096));
}

#[test]
fn shared_addr_port_takes_the_options_line() {
    let s = run("nginx-shared");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let conf = "/etc/nginx/nginx.conf";
    assert_eq!(
        rows(&s),
        vec![
            row("server a.example", "tcp *:80", Some(2048), at(conf, 4)),
            row(
                "server b.example",
                "tcp 0.0.0.0:80",
                Some(2048),
                at(conf, 4)
            ),
            row("server c.example", "tcp *:80", Some(2048), at(conf, 4)),
            row("server d.example", "tcp *:8080", Some(511), dflt()),
            row("server e.example", "tcp *:8080", Some(511), dflt()),
            row("server f.example", "tcp [::]:8080", Some(511), dflt()),
            row("server g.example", "tcp [0::0]:8080", Some(511), dflt()),
        ]
    );
    // every line of a socket edits the one line nginx takes options from
    let text = fs::read_to_string(fixture_dir("nginx-shared/etc/nginx/nginx.conf")).unwrap();
    for i in 0..3 {
        let again = set_and_rescan(
            "nginx-shared",
            i,
            &text.replace("backlog=2048", "backlog=4096"),
        );
        assert!(
            again.listeners[..3]
                .iter()
                .all(|l| l.requested == Some(4096))
        );
    }
    for i in [3, 4] {
        set_and_rescan(
            "nginx-shared",
            i,
            &text.replace(
                "listen 8080 default_server;",
                "listen 8080 backlog=4096 default_server;",
            ),
        );
    }
    // ipv6only= carries the options of [::]:8080, so g's backlog goes there
    for i in [5, 6] {
        let again = set_and_rescan(
            "nginx-shared",
            i,
            &text.replace(
                "[::]:8080 ipv6only=on",
                "[::]:8080 backlog=4096 ipv6only=on",
            ),
        );
        assert_eq!(again.listeners[6].requested, Some(4096));
        assert_eq!(again.listeners[6].source, at(conf, 8));
    }
}

#[test]
fn conflicting_backlogs_are_all_reported() {
    let s = run("nginx-conflict");
    let conf = "/etc/nginx/nginx.conf";
    assert_eq!(
        rows(&s),
        vec![
            row("server a.example", "tcp *:80", Some(100), at(conf, 3)),
            row("server b.example", "tcp *:80", Some(200), at(conf, 4)),
            row("server c.example", "tcp *:80", Some(100), at(conf, 3)),
        ]
    );
    assert_eq!(
        problems(&s),
        vec![(
            conf.into(),
            4,
            "nginx: duplicate listen options for tcp *:80 (already set at /etc/nginx/nginx.conf:3): nginx -t fails; set backlog= and other socket options on one listen line per address".into()
        )]
    );
}

#[test]
fn malformed_values_and_unterminated_quote() {
    let s = run("nginx-malformed");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let conf = "/etc/nginx/nginx.conf";
    assert_eq!(
        problems(&s),
        vec![
            (conf.into(), 14, "nginx: unterminated quoted string (nginx -t: unexpected end of file) (nginx -t fails)".into()),
            (conf.into(), 14, "nginx: unexpected end of file, expecting \";\" or \"}\" (nginx -t fails)".into()),
            (conf.into(), 14, "nginx: unexpected end of file, expecting \"}\" (nginx -t fails)".into()),
            (conf.into(), 4, "nginx: backlog=-1 is not a positive number (nginx -t: invalid backlog)".into()),
            (conf.into(), 8, "nginx: backlog=abc is not a positive number (nginx -t: invalid backlog)".into()),
        ]
    );
    assert_eq!(
        rows(&s),
        vec![
            row("server neg.example", "tcp *:80", None, at(conf, 4)),
            row("server abc.example", "tcp *:81", None, at(conf, 8)),
            row("server ok.example", "tcp *:82", Some(511), dflt()),
        ]
    );
    // the setter still replaces the bad value
    let (_, out) = edited(&fixture_dir("nginx-malformed"), &s.listeners[0], "4096");
    assert!(out.contains("\t\tlisten 80 backlog=4096;\n"));
}

#[test]
fn quoted_and_escaped_strings_with_braces() {
    let s = run("nginx-quoted");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(
        rows(&s),
        vec![row(
            "server quoted.example",
            "tcp 127.0.0.1:8081",
            Some(77),
            at("/etc/nginx/nginx.conf", 10)
        )]
    );
    let text = fs::read_to_string(fixture_dir("nginx-quoted/etc/nginx/nginx.conf")).unwrap();
    let again = set_and_rescan(
        "nginx-quoted",
        0,
        &text.replace("\"backlog=77\"", "\"backlog=4096\""),
    );
    assert_eq!(rows(&again)[0].2, Some(4096));
}

#[test]
fn rhel_layout() {
    let s = run("nginx-rhel");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(
        rows(&s),
        vec![
            row(
                "server app.example.com",
                "tcp *:8080",
                Some(4096),
                at("/etc/nginx/conf.d/app.conf", 2)
            ),
            row("server _", "tcp *:80", Some(511), dflt()),
            row("server _", "tcp [::]:80", Some(511), dflt()),
        ]
    );
    let text = fs::read_to_string(fixture_dir("nginx-rhel/etc/nginx/nginx.conf")).unwrap();
    set_and_rescan(
        "nginx-rhel",
        1,
        &text.replace("listen       80;", "listen       80 backlog=4096;"),
    );
}

#[test]
fn source_build_prefix() {
    let s = run("nginx-local");
    assert!(s.errors.is_empty() && s.problems.is_empty());
    assert_eq!(
        rows(&s),
        vec![row("server local.example", "tcp *:8000", Some(511), dflt())]
    );
    assert_eq!(
        *s.listeners[0].checker,
        ["nginx", "-t", "-c", "/usr/local/nginx/conf/nginx.conf"]
    );
    assert_eq!(
        &*s.listeners[0].setter.as_ref().unwrap().path,
        "/usr/local/nginx/conf/vhosts/x.conf"
    );
}

#[test]
fn no_nginx_no_listeners() {
    let s = run("nginx-loop/etc/nginx/loop");
    assert!(s.listeners.is_empty() && s.problems.is_empty() && s.errors.is_empty());
}

#[test]
fn many_servers_scan_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("etc/nginx/conf.d");
    fs::create_dir_all(&d).unwrap();
    fs::write(
        tmp.path().join("etc/nginx/nginx.conf"),
        "events {}\nhttp {\n include conf.d/*.conf;\n}\n",
    )
    .unwrap();
    for f in 0..200 {
        let mut t = String::new();
        for s in 0..10 {
            t.push_str(&format!(
                "server {{\n    listen {};\n    server_name s{f}-{s}.example;\n    location / {{ return 200 \"ok {{}}\"; }}\n}}\n",
                8000 + (f * 10 + s) % 500
            ));
        }
        fs::write(d.join(format!("{f:03}.conf")), t).unwrap();
    }
    let t0 = std::time::Instant::now();
    let s = scan_dir(tmp.path());
    let took = t0.elapsed();
    assert_eq!(s.listeners.len(), 2000);
    assert!(s.problems.is_empty());
    assert!(took.as_millis() < 500, "{took:?}");
}

#[test]
fn specific_address_without_bind_is_served_by_the_wildcard_socket() {
    let s = run("nginx-wildcard");
    assert!(s.errors.is_empty() && s.problems.is_empty());
    let conf = "/etc/nginx/nginx.conf";
    let served = |a: &str, w: &str| {
        Source::Default(
            format!(
                "{DEFAULT_REASON}; {a} has no bind option, so nginx serves it from the {w} socket"
            )
            .into(),
        )
    };
    assert_eq!(
        rows(&s),
        vec![
            row("server wild.example", "tcp *:80", Some(1024), at(conf, 3)),
            row(
                "server local.example",
                "tcp 127.0.0.1:80",
                Some(1024),
                at(conf, 3)
            ),
            row(
                "server bound.example",
                "tcp 127.0.0.2:80",
                Some(511),
                dflt()
            ),
            row("server v6.example", "tcp [::1]:8080", Some(511), dflt()),
            row("server v4.example", "tcp *:8080", Some(511), dflt()),
            row(
                "server l8080.example",
                "tcp 127.0.0.1:8080",
                Some(511),
                served("tcp 127.0.0.1:8080", "*:8080")
            ),
        ]
    );
    // the edit goes to the socket that serves it
    assert_eq!(s.listeners[1].setter, s.listeners[0].setter);
    assert_eq!(s.listeners[5].setter, s.listeners[4].setter);
    let text = fs::read_to_string(fixture_dir("nginx-wildcard/etc/nginx/nginx.conf")).unwrap();
    let again = set_and_rescan(
        "nginx-wildcard",
        5,
        &text.replace("listen 8080;", "listen 8080 backlog=4096;"),
    );
    assert_eq!(again.listeners[5].requested, Some(4096));
    assert_eq!(again.listeners[5].source, at(conf, 7));
    set_and_rescan(
        "nginx-wildcard",
        2,
        &text.replace(
            "127.0.0.2:80 reuseport",
            "127.0.0.2:80 backlog=4096 reuseport",
        ),
    );
}

#[test]
fn long_include_chain_stops_with_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("etc/nginx/chain");
    fs::create_dir_all(&d).unwrap();
    fs::write(
        tmp.path().join("etc/nginx/nginx.conf"),
        "events {}\nhttp {\n include chain/0.conf;\n server { listen 80; }\n}\n",
    )
    .unwrap();
    for i in 0..100 {
        fs::write(
            d.join(format!("{i}.conf")),
            format!("include chain/{}.conf;\n", i + 1),
        )
        .unwrap();
    }
    let s = scan_dir(tmp.path());
    assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
    assert!(
        s.errors[0]
            .to_string()
            .contains("includes nested more than 64 deep")
    );
    assert_eq!(s.listeners.len(), 1);
}

/// A root holding these files under /etc/nginx.
fn nginx_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("etc/nginx");
    fs::create_dir_all(&conf).unwrap();
    for (name, text) in files {
        fs::write(conf.join(name), text).unwrap();
    }
    tmp
}

/// Every nginx setter knows its line at scan time: the line of its offset in the file, for
/// every fixture and for words quoted across lines.
#[test]
fn setter_lines_match_their_offsets() {
    let tmp = nginx_tree(&[(
        "nginx.conf",
        "http {\n server {\n  listen \"unix:/run/a\nb.sock\"\n   default_server;\n }\n \
         server { listen 8081\n \"backlog=77\"; }\n server { listen 8082 backlog\\=7; }\n \
         server { listen 8083\n\n  'backlog=9'\n ; }\n}\n",
    )]);
    let mut dirs = vec![tmp.path().to_path_buf()];
    for e in fs::read_dir(fixture_dir("")).unwrap() {
        dirs.push(e.unwrap().path());
    }
    let mut checked = 0;
    for dir in dirs {
        let s = scan_dir(&dir);
        for l in &s.listeners {
            let Some(set) = &l.setter else { continue };
            let text = fs::read_to_string(dir.join(set.path.trim_start_matches('/'))).unwrap();
            let line = 1 + root::newlines(&text.as_bytes()[..set.range.start]);
            assert_eq!(set.line, Some(line), "{} {}", dir.display(), l.address);
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked} setters");
    // and the values are those of the text
    let s = scan_dir(tmp.path());
    let got: Vec<_> = (s.listeners.iter())
        .map(|l| {
            (
                l.address.as_str(),
                l.requested,
                l.setter.as_ref().map(|s| s.range.len()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("unix /run/a\nb.sock", Some(511), Some(0)),
            ("tcp *:8081", Some(77), Some(2)),
            ("tcp *:8082", Some(511), Some(0)),
            ("tcp *:8083", Some(9), Some(1)),
        ]
    );
}

/// A file included twice is walked twice, to the same servers, whatever its size; it is
/// parsed once, so its syntax errors are reported once.
#[test]
fn a_file_included_twice_is_walked_twice() {
    let servers = |n: usize, port: usize| -> String {
        (0..n)
            .map(|i| format!("server {{ listen {}; server_name s{i}; }}\n", port + i))
            .collect()
    };
    let tmp = nginx_tree(&[
        ("big.conf", &servers(40, 8000)),
        ("small.conf", &servers(2, 9000)),
        ("bad.conf", "server_name x y;;\n"),
        (
            "nginx.conf",
            "http {\n include big.conf;\n include small.conf;\n include big.conf;\n include small.conf;\n include bad.conf;\n include bad.conf;\n}\n",
        ),
    ]);
    let s = scan_dir(tmp.path());
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(
        problems(&s),
        [(
            "/etc/nginx/bad.conf".into(),
            1,
            "nginx: unexpected \";\" (nginx -t fails)".into()
        )]
    );
    let big = (s.listeners.iter())
        .filter(|l| l.address == "tcp *:8039")
        .count();
    let small = (s.listeners.iter())
        .filter(|l| l.address == "tcp *:9001")
        .count();
    assert_eq!((s.listeners.len(), big, small), (84, 2, 2));
}
