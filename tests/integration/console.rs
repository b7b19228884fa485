//! The web console: its JSON API over HTTP, and its pages rendered by
//! Debian's Chromium (headless) — the DOM checked for the topic, a record's
//! pretty-printed JSON and a group's lag, the screenshots decoded and checked
//! for size and content. Served by a broker (`console.listener`) and by
//! `gregor console --bootstrap-server`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::http::request;
use crate::common::{gregor_bin, ok, pipe_into, run_tool, ChildGuard, TestBroker};

/// The JSON record the browser must show pretty-printed.
const JSON_RECORD: &str = r#"{"user":"ada","items":[1,2,3],"paid":true}"#;
/// Records produced in all; the group commits the first [`CONSUMED`].
const PRODUCED: usize = 5;
const CONSUMED: usize = 2;

/// Topic `orders` (1 partition, a retention override) with [`PRODUCED`]
/// records, and group `billing` that committed after [`CONSUMED`] of them.
fn seed(bootstrap: &str) {
    ok(run_tool(
        "topics",
        bootstrap,
        &["--create", "--topic", "orders", "--partitions", "1", "--config", "retention.ms=86400000"],
    ));
    let mut input = format!("{JSON_RECORD}\n");
    for i in 1..PRODUCED {
        input.push_str(&format!("event-{i}\n"));
    }
    let mut producer = Command::new(gregor_bin());
    producer.args(["console-producer", "--bootstrap-server", bootstrap, "--topic", "orders"]).env("NO_COLOR", "1");
    ok(pipe_into(producer, &input));
    let consumed = ok(run_tool(
        "console-consumer",
        bootstrap,
        &["--topic", "orders", "--group", "billing", "--from-beginning", "--max-messages", &CONSUMED.to_string()],
    ));
    assert_eq!(consumed.lines().count(), CONSUMED, "{consumed}");
}

fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let r = request(addr, "GET", path, None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"), "GET {path}");
    r.json()
}

/// Polls `path` until `check` holds (the sampler fills the series every 2 s).
fn wait_for_json(addr: SocketAddr, path: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = get_json(addr, path);
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "GET {path} never matched: {v}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn check_api(console: SocketAddr) {
    let overview = get_json(console, "/api/overview");
    assert_eq!(overview["brokers"].as_array().map(Vec::len), Some(1), "{overview}");
    assert_eq!(overview["controller"], overview["brokers"][0]["id"], "{overview}");
    assert!(overview["cluster_id"].as_str().is_some_and(|s| !s.is_empty()), "{overview}");
    assert_eq!(overview["topics"], 1, "{overview}");
    assert_eq!(overview["under_replicated_partitions"], 0);
    assert_eq!(overview["offline_partitions"], 0);

    let topics = get_json(console, "/api/topics");
    let orders = topics["topics"].as_array().expect("an array").iter().find(|t| t["name"] == "orders").cloned();
    let orders = orders.unwrap_or_else(|| panic!("orders missing: {topics}"));
    assert_eq!(orders["partitions"], 1);
    assert_eq!(orders["replication_factor"], 1);

    let detail = get_json(console, "/api/topics/orders");
    let p0 = &detail["partitions"][0];
    assert_eq!(p0["log_start_offset"], 0, "{detail}");
    assert_eq!(p0["log_end_offset"], PRODUCED, "{detail}");
    assert_eq!(p0["isr"], serde_json::json!([p0["leader"]]), "{detail}");
    let config = |name: &str| {
        detail["configs"].as_array().expect("an array").iter().find(|c| c["name"] == name).cloned().unwrap_or_default()
    };
    assert_eq!(config("retention.ms")["value"], "86400000");
    assert_eq!(config("retention.ms")["default"], false, "an override is marked");
    assert_eq!(config("cleanup.policy")["default"], true);

    let page = get_json(console, "/api/topics/orders/records?partition=0&offset=0&limit=2");
    let records = page["records"].as_array().expect("an array");
    assert_eq!(records.len(), 2, "{page}");
    assert_eq!(records[0]["offset"], 0);
    assert_eq!(records[0]["value"]["text"], JSON_RECORD);
    assert_eq!(records[0]["key"], serde_json::Value::Null);
    assert_eq!(records[1]["value"]["text"], "event-1");
    let newest = get_json(console, "/api/topics/orders/records");
    assert_eq!(newest["records"].as_array().map(Vec::len), Some(PRODUCED), "{newest}");
    let by_time = get_json(console, "/api/topics/orders/records?timestamp=0&limit=1");
    assert_eq!(by_time["records"][0]["offset"], 0, "{by_time}");
    let future = get_json(console, "/api/topics/orders/records?timestamp=99999999999999");
    assert_eq!(future["records"].as_array().map(Vec::len), Some(0), "{future}");

    for (path, status) in [
        ("/api/topics/no-such-topic", 404),
        ("/api/topics/no-such-topic/records", 404),
        ("/api/groups/no-such-group", 404),
        ("/api/topics/orders/records?offset=99", 400),
        ("/api/topics/orders/records?offset=-1", 400),
        ("/api/topics/orders/records?offset=abc", 400),
        ("/api/topics/orders/records?partition=7", 400),
        ("/api/topics/orders/records?limit=501", 400),
        ("/api/topics/orders/records?offset=0&timestamp=0", 400),
        ("/api/nothing", 404),
        ("/nothing.html", 404),
    ] {
        let r = request(console, "GET", path, None);
        assert_eq!(r.status, status, "GET {path}: {}", r.body);
        assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "GET {path}: {}", r.body);
    }
    assert_eq!(request(console, "POST", "/api/topics", Some("{}")).status, 405);

    let groups = get_json(console, "/api/groups");
    let billing = groups["groups"].as_array().expect("an array").iter().find(|g| g["group_id"] == "billing").cloned();
    assert!(billing.is_some_and(|g| g["protocol_type"] == "consumer"), "{groups}");
    let group = get_json(console, "/api/groups/billing");
    let lag = (PRODUCED - CONSUMED) as u64;
    assert_eq!(group["total_lag"], lag, "{group}");
    assert_eq!(group["partitions"][0]["committed_offset"], CONSUMED, "{group}");
    assert_eq!(group["partitions"][0]["log_end_offset"], PRODUCED, "{group}");
    assert_eq!(group["partitions"][0]["lag"], lag, "{group}");

    // The sampler: a point with the group's lag and the topic's rate.
    let series = wait_for_json(console, "/api/series", |s| {
        s["points"]
            .as_array()
            .and_then(|p| p.last())
            .is_some_and(|p| p["groups"]["billing"] == lag && p["topics"]["orders"].is_number())
    });
    assert_eq!(series["interval_ms"], 2000);

    let index = request(console, "GET", "/", None);
    assert_eq!(index.status, 200);
    assert!(index.body.contains("<script type=\"module\" src=\"/app.js\">"), "{}", index.body);
    let js = request(console, "GET", "/app.js", None);
    assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
}

// ---------- the browser ----------

fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        // .ci/run installs chromium; on a developer machine without it, say so loudly.
        eprintln!("SKIPPED: the browser checks need Debian's chromium (apt-get install chromium)");
        assert!(std::env::var_os("CI").is_none(), "chromium must be installed in CI");
    }
    found
}

/// Runs headless Chromium with `extra` flags on `url`; its stdout.
fn run_chromium(chromium: &Path, dir: &Path, extra: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir_in(dir).expect("profile dir");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", chromium.display()));
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    let stderr = child.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut guard = ChildGuard(Some(child));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        let child = guard.0.as_mut().expect("child");
        if let Ok(Some(status)) = child.try_wait() {
            guard.0 = None;
            break status;
        }
        assert!(Instant::now() < deadline, "chromium did not finish with {url}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    let err = errors.join().unwrap_or_default();
    assert!(status.success(), "chromium {extra:?} {url}: {status}\n{err}");
    out
}

/// The DOM after the page's scripts ran.
fn dump_dom(chromium: &Path, dir: &Path, url: &str) -> String {
    run_chromium(chromium, dir, &["--dump-dom"], url)
}

/// The rendered text: tags removed, the few entities the serializer writes decoded.
fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&nbsp;", " ").replace("&amp;", "&")
}

/// Takes a 1280×900 screenshot of `url` into `dir/<name>.png`, copies it to
/// `target/console-screenshots/`, and checks that it is a picture of a page:
/// the right size, many colours, and plenty of pixels off the background.
fn screenshot(chromium: &Path, dir: &Path, name: &str, url: &str) {
    let file = dir.join(format!("{name}.png"));
    run_chromium(
        chromium,
        dir,
        &["--window-size=1280,900", "--hide-scrollbars", &format!("--screenshot={}", file.display())],
        url,
    );
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if let Some(target) = gregor_bin().parent().and_then(Path::parent) {
        let keep = target.join("console-screenshots");
        if std::fs::create_dir_all(&keep).is_ok() {
            let _ = std::fs::write(keep.join(format!("{name}.png")), &bytes);
        }
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("decode the PNG");
    assert_eq!((info.width, info.height), (1280, 900), "{name}: screenshot size");
    let channels = info.color_type.samples();
    assert!(
        channels >= 3 && info.bit_depth == png::BitDepth::Eight,
        "{name}: {:?} {:?}",
        info.color_type,
        info.bit_depth
    );
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).map(|p| &p[..3]).collect();
    let mut counts: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for p in &pixels {
        *counts.entry(p).or_default() += 1;
    }
    let background = counts.values().copied().max().unwrap_or(0);
    let off_background = pixels.len() - background;
    assert!(counts.len() >= 64, "{name}: only {} distinct colours — a blank page?", counts.len());
    assert!(
        off_background * 100 >= pixels.len() * 5,
        "{name}: only {off_background} of {} pixels differ from the background",
        pixels.len()
    );
}

fn check_pages(console: SocketAddr, with_screenshots: bool) {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let base = format!("http://{console}");

    let topics = dump_dom(&chromium, dir.path(), &format!("{base}/#/topics"));
    assert!(topics.contains("id=\"topics-table\""), "{topics}");
    assert!(topics.contains("data-topic=\"orders\""), "{topics}");

    let records = dump_dom(&chromium, dir.path(), &format!("{base}/#/topics/orders?partition=0&offset=0&limit=10"));
    assert!(records.contains("id=\"records\""), "{records}");
    assert!(records.contains("data-offset=\"0\""), "{records}");
    let text = text_of(&records);
    // JSON.stringify(value, null, 2), as the page shows it.
    let pretty = "{\n  \"user\": \"ada\",\n  \"items\": [\n    1,\n    2,\n    3\n  ],\n  \"paid\": true\n}";
    assert!(text.contains(pretty), "the record's JSON is not pretty-printed:\n{text}");
    assert!(text.contains("event-4"), "{text}");
    assert!(records.contains("id=\"configs-table\"") && text.contains("retention.ms"), "{text}");

    let lag = PRODUCED - CONSUMED;
    let group = dump_dom(&chromium, dir.path(), &format!("{base}/#/groups/billing"));
    assert!(group.contains("id=\"lag-table\""), "{group}");
    assert!(group.contains(&format!("data-lag=\"{lag}\"")), "the lag is not shown:\n{group}");
    assert!(text_of(&group).contains(&format!("Total lag{lag}")), "{}", text_of(&group));

    let overview = dump_dom(&chromium, dir.path(), &format!("{base}/#/"));
    assert!(overview.contains("id=\"brokers-table\"") && overview.contains("data-broker=\""), "{overview}");
    let missing = dump_dom(&chromium, dir.path(), &format!("{base}/#/topics/no-such-topic"));
    assert!(missing.contains("class=\"error\"") && missing.contains("does not exist"), "{missing}");

    if with_screenshots {
        for (name, route) in [
            ("overview", "/#/"),
            ("topics", "/#/topics"),
            ("topic", "/#/topics/orders?partition=0&offset=0"),
            ("groups", "/#/groups"),
            ("group", "/#/groups/billing"),
            ("charts", "/#/charts"),
        ] {
            screenshot(&chromium, dir.path(), name, &format!("{base}{route}"));
        }
    }
}

#[test]
fn broker_serves_the_console_api_and_pages() {
    let broker = TestBroker::start(&["console.listener=http://127.0.0.1:0", "metrics.listener=http://127.0.0.1:0"]);
    let console = broker.console.expect("the started line names the console");
    seed(&broker.bootstrap());
    check_api(console);
    // Bytes in/out come from the broker's own registry.
    let series = get_json(console, "/api/series");
    assert!(series["points"].as_array().expect("an array").iter().any(|p| p["bytes_in"].is_number()), "{series}");
    check_pages(console, true);

    let plain = TestBroker::start(&[]);
    assert_eq!(plain.console, None, "no console unless configured");
    let (code, stderr) =
        TestBroker::run_to_exit(&["console.listener=ftp://127.0.0.1:0"], std::time::Duration::from_secs(60));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("console.listener"), "{stderr}");
}

#[test]
fn console_tool_serves_a_cluster() {
    let broker = TestBroker::start(&["metrics.listener=http://127.0.0.1:0"]);
    let metrics = broker.metrics.expect("metrics endpoint");
    seed(&broker.bootstrap());
    let child = Command::new(gregor_bin())
        .args(["console", "--bootstrap-server", &broker.bootstrap(), "--listen", "http://127.0.0.1:0"])
        .args(["--metrics-url", &format!("http://{metrics}/metrics")])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gregor console");
    let mut guard = ChildGuard(Some(child));
    let stdout = guard.0.as_mut().and_then(|c| c.stdout.take()).expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the console's first line");
    let url = line.trim().strip_prefix("Console at http://").unwrap_or_else(|| panic!("first line: {line:?}"));
    let console: SocketAddr = url.trim_end_matches('/').parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_ne!(console.port(), 0, "the bound port is printed");

    check_api(console);
    // --metrics-url: the broker's endpoint is scraped for the bytes charts.
    wait_for_json(console, "/api/series", |s| {
        s["points"].as_array().is_some_and(|p| p.iter().any(|p| p["bytes_in"].is_number()))
    });
    check_pages(console, false);
    assert_eq!(guard.terminate(Duration::from_secs(30)), Some(0), "SIGTERM stops the console cleanly");

    // Usage errors exit 2 and name the problem.
    let out = Command::new(gregor_bin()).args(["console"]).env("NO_COLOR", "1").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(gregor_bin())
        .args(["console", "--bootstrap-server", &broker.bootstrap(), "--listen", "https://127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"), "{:?}", out);
    let out = Command::new(gregor_bin())
        .args(["console", "--bootstrap-server", "127.0.0.1:1", "--listen", "http://127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "an unreachable cluster is a runtime error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"), "{out:?}");
}
