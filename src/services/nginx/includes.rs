//! nginx.conf walked with its includes expanded the way nginx expands them, collecting the
//! servers and their listen lines:
//! - a relative include is taken from the nginx.conf directory (the prefix's conf dir),
//!   never from the including file's;
//! - a glob may match nothing; a plain path that is missing fails `nginx -t`;
//! - includes may hide anywhere (location, upstream...): every block is walked for them;
//! - an include loop, an include chain deeper than `MAX_DEPTH` and more than
//!   `MAX_INCLUDES` includes in all are errors, and the walk goes on without them.
//!
//! Each file is read once, however often it is included (fastcgi_params is included from
//! every PHP location of every site), and parsed at most twice (see `Walker::files`).

use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::facts;
use super::listeners::{self, Server};
use super::parser::{self, Directive, Parsed};
use super::{MAX_DEPTH, problem};
use crate::error::Error;
use crate::host::Host;
use crate::root::{self, Resolved};
use crate::services::{Location, Problem, Scan};

/// Guard against include fan-out (a file including another twice, 30 levels deep): nginx
/// would take forever too, qfix stops and says so.
const MAX_INCLUDES: usize = 100_000;

/// The servers of the config whose main file is `main`, in the order nginx reads them.
/// Problems and errors go to `scan`.
pub(super) fn walk(host: &Host, main: &str, scan: &mut Scan) -> Vec<Server> {
    let mut w = Walker::new(host, root::parent(main), scan);
    w.file(main, None, Ctx::Main);
    let Walker {
        servers,
        scan,
        facts,
        ..
    } = w;
    scan.facts.nginx.push(facts.finish(host, main));
    servers
}

/// Where a directive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Main,
    Http,
    Stream,
    /// Inside `server { }` of http or stream; index into `Walker::servers`.
    Server(usize),
    /// Any other block.
    Other,
}

/// A file read and parsed.
struct File {
    /// In-root path after following links.
    path: Arc<str>,
    text: Arc<str>,
    parsed: Parsed,
}

struct Walker<'a> {
    host: &'a Host,
    /// The nginx.conf directory.
    conf_dir: &'a str,
    /// Include paths looked up so far: the file they name after links (`None`: /dev/null).
    resolved: HashMap<String, Option<Arc<str>>>,
    /// Files parsed so far, by in-root path after links, and the parse of those included
    /// more than once. A file's parse is kept from its second include on: snippets are
    /// included from every location, a site's file once, and keeping every parse would
    /// hold a busy host's whole config, directive by directive, to the end of the walk.
    /// Shared with the walk, which holds a file while its includes add others.
    files: HashMap<Arc<str>, Option<Rc<File>>>,
    /// Files being walked, outermost first, to catch include loops.
    stack: Vec<Arc<str>>,
    includes: usize,
    servers: Vec<Server>,
    scan: &'a mut Scan,
    /// Error logs and upstreams, told every block and directive in walk order.
    facts: facts::Collector,
}

impl<'a> Walker<'a> {
    fn new(host: &'a Host, conf_dir: &'a str, scan: &'a mut Scan) -> Walker<'a> {
        Walker {
            host,
            conf_dir,
            resolved: HashMap::default(),
            files: HashMap::default(),
            stack: Vec::new(),
            includes: 0,
            servers: Vec::new(),
            scan,
            facts: facts::Collector::default(),
        }
    }

    /// Walk the file at `path` in context `ctx`. `from` is the include directive (path,
    /// line) that names it, for messages.
    fn file(&mut self, path: &str, from: Option<(&str, usize)>, ctx: Ctx) {
        let Some(real) = self.resolve(path) else {
            return;
        };
        if self.stack.len() >= MAX_DEPTH {
            self.scan.errors.push(Error::msg(format!(
                "nginx: includes nested more than {MAX_DEPTH} deep at {real}: giving up there"
            )));
            return;
        }
        if self.stack.contains(&real) {
            let chain = self.stack.join(" -> ");
            let msg = format!("nginx: include loop: {real} is already being read ({chain})");
            self.scan.errors.push(match from {
                Some((p, line)) => Error::at(p, line, msg),
                None => Error::msg(msg),
            });
            return;
        }
        let Some(file) = self.load(path, real.clone(), from) else {
            return;
        };
        self.stack.push(real);
        self.walk(&file, ctx);
        self.stack.pop();
    }

    /// The file an include path names, after links; `None` for /dev/null (an empty file)
    /// or when it cannot be looked up (an error).
    fn resolve(&mut self, path: &str) -> Option<Arc<str>> {
        if let Some(real) = self.resolved.get(path) {
            return real.clone();
        }
        let real = match self.host.resolve(path) {
            Ok(Resolved::Path(p)) => Some(Arc::from(p)),
            Ok(Resolved::DevNull) => None,
            Err(e) => {
                self.scan.errors.push(e);
                return None;
            }
        };
        self.resolved.insert(path.to_string(), real.clone());
        real
    }

    /// The parsed file at `real` (the file `path` names); its syntax errors are reported
    /// the first time.
    fn load(
        &mut self,
        path: &str,
        real: Arc<str>,
        from: Option<(&str, usize)>,
    ) -> Option<Rc<File>> {
        let again = match self.files.get(&real) {
            Some(Some(file)) => return Some(file.clone()),
            Some(None) => true,
            None => false,
        };
        let text = match self.host.read(&real) {
            Ok(Some(t)) => t,
            Ok(None) => {
                let location = match from {
                    Some((p, line)) => Location {
                        path: p.into(),
                        line,
                    },
                    None => Location {
                        path: path.into(),
                        line: 0,
                    },
                };
                self.scan.problems.push(Problem {
                    location,
                    message: format!(
                        "nginx: include {path}: no such file (nginx -t fails on a missing include that is not a glob)"
                    ),
                });
                return None;
            }
            Err(e) => {
                self.scan.errors.push(e);
                return None;
            }
        };
        let (parsed, errors) = parser::parse(&text);
        for e in errors.into_iter().filter(|_| !again) {
            self.scan.problems.push(Problem {
                location: Location {
                    path: real.clone(),
                    line: e.line,
                },
                message: format!("nginx: {} (nginx -t fails)", e.message),
            });
        }
        let file = Rc::new(File {
            path: real.clone(),
            text,
            parsed,
        });
        self.files.insert(real, again.then(|| file.clone()));
        Some(file)
    }

    /// Walk a file's directives in order, with `ctx` the context of its include.
    fn walk(&mut self, file: &File, mut ctx: Ctx) {
        // the blocks around the current directive, innermost last: where each ends, and
        // the context around it
        let mut open: Vec<(usize, Ctx)> = Vec::new();
        for (i, d) in file.parsed.directives.iter().enumerate() {
            while let Some(&(end, outer)) = open.last()
                && i >= end
            {
                ctx = outer;
                open.pop();
                self.facts.close();
            }
            match d.block_end {
                Some(end) => {
                    open.push((end, ctx));
                    let parsed = &file.parsed;
                    let (name, args) = (parsed.name(d), parsed.args(d));
                    self.facts.open(&file.text, name, args, &file.path);
                    ctx = self.block(file, d, ctx);
                }
                None => self.directive(file, d, ctx),
            }
        }
        // blocks that end with the file
        for _ in open {
            self.facts.close();
        }
    }

    /// The context inside block `d`, opened in context `ctx`.
    fn block(&mut self, file: &File, d: &Directive, ctx: Ctx) -> Ctx {
        let name = file.parsed.name(d);
        match (&*name.value(&file.text), ctx) {
            ("http", Ctx::Main) => Ctx::Http,
            ("stream", Ctx::Main) => Ctx::Stream,
            ("server", Ctx::Http | Ctx::Stream) => {
                self.servers.push(Server {
                    stream: ctx == Ctx::Stream,
                    path: file.path.clone(),
                    line: name.line,
                    name: None,
                    listens: Vec::new(),
                });
                Ctx::Server(self.servers.len() - 1)
            }
            _ => Ctx::Other,
        }
    }

    /// A directive ending in `;`: only `include`, `listen` and `server_name` matter here.
    fn directive(&mut self, file: &File, d: &Directive, ctx: Ctx) {
        let text = &*file.text;
        let args = file.parsed.args(d);
        let name = file.parsed.name(d).value(text);
        if name != "include" {
            self.facts
                .directive(text, file.parsed.name(d), args, &file.path);
        }
        match (&*name, ctx) {
            ("include", _) => self.include(file, d, ctx),
            ("listen", Ctx::Server(i)) => {
                let stream = self.servers[i].stream;
                let problems = &mut self.scan.problems;
                let line = file.parsed.name(d).line;
                if let Some(l) = listeners::listen(&file.path, text, line, args, stream, problems) {
                    self.servers[i].listens.push(l);
                }
            }
            ("server_name", Ctx::Server(i)) => {
                let server = &mut self.servers[i];
                if server.name.is_none() {
                    let name = args.first().map(|a| a.value(text).into_owned());
                    server.name = Some(name.unwrap_or_default());
                }
            }
            _ => {}
        }
    }

    fn include(&mut self, file: &File, d: &Directive, ctx: Ctx) {
        let (path, line) = (&*file.path, file.parsed.name(d).line);
        let Some(arg) = file.parsed.args(d).first() else {
            let p = problem(path, line, "nginx: include without a file name".into());
            self.scan.problems.push(p);
            return;
        };
        let pattern = root::join(self.conf_dir, &arg.value(&file.text));
        let files = if pattern.contains(['*', '?', '[']) {
            match self.host.glob(&pattern) {
                Ok(f) => f,
                Err(e) => {
                    self.scan.errors.push(Error::at(path, line, e));
                    return;
                }
            }
        } else {
            vec![pattern]
        };
        for f in files {
            self.includes += 1;
            if self.includes > MAX_INCLUDES {
                if self.includes == MAX_INCLUDES + 1 {
                    self.scan.errors.push(Error::at(
                        path,
                        line,
                        format!("nginx: more than {MAX_INCLUDES} includes, giving up"),
                    ));
                }
                return;
            }
            self.file(&f, Some((path, line)), ctx);
        }
    }
}
