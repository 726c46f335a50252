//! The HTML report in a real headless browser (Debian's chromium): the broken lab run, the clean
//! lab run and a hand-built run with cause chains all render; on a 1100x700 screen the first
//! failing check is above the fold (measured in the page, and its badge's colour is in the
//! screenshot); the DOM has the cause chains; nothing needs JavaScript (none runs: the page's
//! CSP forbids it); the print stylesheet hides the evidence and unfolds the passes. The
//! screenshots are kept in target/tmp/ (report.png, clean.png, causes.png) to be looked at; they
//! are not compared (pixels differ between chromium builds).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support {
    pub mod sample_report;
}

use std::path::{Path, PathBuf};
use std::process::Command;

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 700;

fn chromium() -> &'static str {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).exists() {
            return c;
        }
    }
    panic!("chromium is not installed: tests/run.sh installs it (apt-get install chromium)");
}

fn browser(args: &[&str], profile: &Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("mailcheck-html-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `html` as NAME.html; its file:// URL.
    fn page(&self, name: &str, html: &str) -> String {
        let p = self.0.join(format!("{name}.html"));
        std::fs::write(&p, html).unwrap();
        format!("file://{}", p.display())
    }

    fn dom(&self, url: &str, extra: &[&str]) -> String {
        let mut args = vec!["--dump-dom"];
        args.extend_from_slice(extra);
        args.push(url);
        let out = browser(&args, &self.0.join("profile-dom"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A screenshot of the first screen; kept as target/tmp/KEEP.
    fn screenshot(&self, url: &str, keep: &str) -> Vec<u8> {
        let shot = self.0.join("shot.png");
        let out = browser(
            &[&format!("--screenshot={}", shot.display()), url],
            &self.0.join("profile-shot"),
        );
        let png = std::fs::read(&shot).unwrap_or_else(|e| {
            panic!(
                "no screenshot ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        std::fs::copy(&shot, PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(keep)).unwrap();
        png
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn replay_html(run: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["run", "--replay"])
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/runs")
                .join(run),
        )
        .args(["--format", "html"])
        .env_remove("MAILCHECK_FORMAT")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Measures the page in the browser: a copy of it, without its CSP, with a script that writes
/// what it found as JSON into the DOM (the report itself has no script).
const PROBE: &str = r#"<script>(function(){
var r={viewport:window.innerHeight};
var f=document.querySelector('article.check.fail, article.check.error');
r.first_problem=f?{id:f.id,top:f.getBoundingClientRect().top}:null;
var c=document.querySelector('#causes .st.fail, #causes .st.error');
r.first_cause_top=c?c.getBoundingClientRect().top:null;
var row=document.querySelector('#passes details.row');
r.pass_row_visible=row?row.checkVisibility():null;
var fold=document.querySelector('#passes');
r.passes_height=fold?fold.getBoundingClientRect().height:null;
var ev=document.querySelector('details.evidence');
r.evidence_display=ev?getComputedStyle(ev).display:null;
var chain=function(id){var a=document.getElementById(id);if(!a)return null;
  return Array.prototype.map.call(a.querySelectorAll('.chain li'),function(l){return l.textContent;});};
r.login_chain=chain('check-auth.login-works');
r.submission_chain=chain('check-submission.auth-required');
var tree=function(ul){return Array.prototype.map.call(ul.children,function(li){
  var a=li.querySelector(':scope>a.id');var sub=li.querySelector(':scope>ul');
  return {id:a?a.textContent:li.textContent.slice(0,40),effects:sub?tree(sub):[]};});};
var causes=document.querySelector('#causes>ul');
r.causes=causes?tree(causes):[];
var pre=document.createElement('pre');pre.id='probe';pre.textContent=JSON.stringify(r);
document.body.appendChild(pre);})();</script>"#;

const CSP: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">";

fn probe(s: &Scratch, name: &str, html: &str) -> serde_json::Value {
    assert!(html.contains(CSP), "the report has its CSP");
    let page = html
        .replacen(CSP, "", 1)
        .replacen("</body>", &format!("{PROBE}</body>"), 1);
    let dom = s.dom(&s.page(name, &page), &[]);
    let start = dom
        .find("<pre id=\"probe\">")
        .unwrap_or_else(|| panic!("no probe in\n{dom}"));
    let json = &dom[start + "<pre id=\"probe\">".len()..];
    let json = &json[..json.find("</pre>").unwrap()];
    let json = json
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Pixels of exactly `rgb` in the (RGB or RGBA) PNG.
fn pixels_of(png: &[u8], rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(
        (info.width, info.height),
        (WIDTH, HEIGHT),
        "the screenshot is the first screen"
    );
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("colour type {other:?}"),
    };
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| p[..3] == rgb)
        .count()
}

/// The FAIL badge's background (`--fail` in the page's style).
const FAIL_RED: [u8; 3] = [0xb7, 0x1c, 0x1c];

#[test]
fn broken_run_shows_its_failing_check_above_the_fold() {
    let s = Scratch::new("broken");
    let html = replay_html("broken-lab");
    let golden = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports/golden/report.html"),
    )
    .unwrap();
    assert!(
        golden.contains("id=\"summary\""),
        "the golden is the same page"
    );
    let url = s.page("report", &html);
    let dom = s.dom(&url, &[]);
    assert!(
        dom.contains("id=\"summary\""),
        "no summary in the rendered DOM:\n{dom}"
    );
    assert!(
        dom.contains("class=\"pill fail\"") && dom.contains("class=\"pill pass\""),
        "{dom}"
    );
    let m = probe(&s, "probe", &html);
    let top = m["first_problem"]["top"].as_f64().unwrap();
    assert!(
        top < f64::from(HEIGHT) - 40.0,
        "the first failing check starts at {top}px, below the {HEIGHT}px screen: {m}"
    );
    assert_eq!(
        m["first_problem"]["id"], "check-postfix.mynetworks-loopback",
        "T-order: T4 first"
    );
    assert!(
        m["first_cause_top"].as_f64().unwrap() < top,
        "the causes come first: {m}"
    );
    let png = s.screenshot(&url, "report.png");
    assert!(
        pixels_of(&png, FAIL_RED) > 200,
        "no FAIL badge in the first screen of the screenshot"
    );
}

#[test]
fn clean_run_renders_with_everything_folded() {
    let s = Scratch::new("clean");
    let html = replay_html("clean-lab");
    let url = s.page("clean", &html);
    let dom = s.dom(&url, &[]);
    assert!(
        dom.contains("0 failed") && dom.contains("id=\"passes\""),
        "{dom}"
    );
    assert!(!dom.contains("id=\"problems\""), "{dom}");
    let m = probe(&s, "probe", &html);
    assert!(m["first_problem"].is_null(), "{m}");
    assert_eq!(
        m["pass_row_visible"], false,
        "passes are folded on screen: {m}"
    );
    assert!(
        m["passes_height"].as_f64().unwrap() < 80.0,
        "the folded passes are one line: {m}"
    );
    let png = s.screenshot(&url, "clean.png");
    assert!(
        png.len() > 10_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
}

#[test]
fn dom_has_the_cause_chains() {
    let s = Scratch::new("causes");
    let html = mailcheck::report::html::render(&support::sample_report::canonical());
    let m = probe(&s, "probe", &html);
    let login: Vec<String> = serde_json::from_value(m["login_chain"].clone()).unwrap();
    assert_eq!(login.len(), 2, "{m}");
    assert!(
        login[0].starts_with("FAILsasl.saslauthd-socket: saslauthd is not running"),
        "{login:?}"
    );
    assert!(
        login[1].starts_with("ERRORauth.login-works (this check)"),
        "{login:?}"
    );
    let sub: Vec<String> = serde_json::from_value(m["submission_chain"].clone()).unwrap();
    assert!(
        sub[0].starts_with("the server logged: postfix/smtpd[4711]"),
        "{sub:?}"
    );
    // The tree of causes: the saslauthd finding, the AUTH error under it, the relay check it
    // blocked under that; the log line as a root of its own.
    let causes = &m["causes"];
    assert_eq!(causes[0]["id"], "sasl.saslauthd-socket", "{causes}");
    assert_eq!(
        causes[0]["effects"][0]["id"], "auth.login-works",
        "{causes}"
    );
    assert_eq!(
        causes[0]["effects"][0]["effects"][0]["id"], "relay.authenticated-accepted",
        "{causes}"
    );
    assert!(
        causes[1]["id"]
            .as_str()
            .unwrap()
            .starts_with("the server logged"),
        "{causes}"
    );
    let url = s.page("causes", &html);
    s.screenshot(&url, "causes.png");
}

#[test]
fn no_script_runs_and_print_hides_the_evidence() {
    let s = Scratch::new("print");
    let html = replay_html("broken-lab");
    assert!(!html.contains("<script"), "the report has no script");
    // A script that got into the page anyway does not run: the CSP forbids it.
    let injected = html.replacen(
        "</body>",
        "<script>document.body.setAttribute('data-ran','1')</script></body>",
        1,
    );
    let dom = s.dom(&s.page("injected", &injected), &[]);
    assert!(
        !dom.contains("data-ran=\"1\""),
        "an inline script ran despite the CSP"
    );
    // The print stylesheet, applied to the screen: evidence hidden, the passes unfolded.
    let printed = html.replacen("@media print{", "@media all{", 1);
    let m = probe(&s, "print", &printed);
    assert_eq!(m["evidence_display"], "none", "{m}");
    assert_eq!(m["pass_row_visible"], true, "passes unfold in print: {m}");
    assert!(
        m["passes_height"].as_f64().unwrap() > 1000.0,
        "all 38 passes unfold in print: {m}"
    );
    // And a real print: a PDF of a few pages (the evidence would make it dozens).
    let pdf = s.0.join("report.pdf");
    let url = s.page("report", &html);
    browser(
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
            &url,
        ],
        &s.0.join("profile-pdf"),
    );
    let bytes = std::fs::read(&pdf).expect("a PDF");
    assert!(bytes.starts_with(b"%PDF"));
    let pages = regex::bytes::Regex::new(r"/Type\s*/Page[^s]")
        .unwrap()
        .find_iter(&bytes)
        .count();
    assert!((1..=8).contains(&pages), "{pages} pages");
    println!("printed broken-lab: {pages} pages");
}
