//! Two real `vigie` processes on one PostGIS database: a write through one shows in the tiles,
//! queries and live stream of the other within a second; a replica that was down catches up
//! from the change feed when it comes back, and so does one cut off from the database (a relay
//! that closes its connections) while it stays up: not ready while cut, then its index and its
//! event stream have every write it missed, in order, with no gap.

use crate::support::{PostgisDb, Server, agent, agent_within, get_json, tile_ids};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn post(server: &Server, body: &Value) -> Value {
    let mut r = agent()
        .post(&server.url("/api/entries"))
        .header("content-type", "application/json")
        .header("x-vigie-user", "replica test")
        .send(body.to_string())
        .unwrap();
    assert_eq!(r.status(), 201);
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// Streams events (seq, entry id) of a server into a channel, from after `last`. The stream
/// is held for up to five minutes (the tests' other requests get 30 s): a stream that outlives
/// a cut and a heal must not be closed by the client halfway.
fn listen(server: &Server, last: Option<u64>) -> mpsc::Receiver<(u64, u64, Instant)> {
    let (tx, rx) = mpsc::channel();
    let mut req = agent_within(Duration::from_mins(5)).get(&server.url("/api/events"));
    if let Some(l) = last {
        req = req.header("last-event-id", l.to_string());
    }
    let resp = req.call().unwrap();
    std::thread::spawn(move || {
        let mut seq = 0;
        for line in BufReader::new(resp.into_body().into_reader()).lines() {
            let Ok(line) = line else { return };
            if let Some(v) = line.strip_prefix("id: ") {
                seq = v.parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("data: ") {
                let d: Value = serde_json::from_str(v).unwrap();
                if tx.send((seq, d["entry_id"].as_u64().unwrap(), Instant::now())).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn a_write_on_one_replica_shows_on_the_other_within_a_second() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let env = [("DATABASE_URL", db.url.as_str())];
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_with_env(da.path(), &["--demo", "--demo-entries", "500"], &env);
    let b = Server::start_with_env(db_dir.path(), &["--anonymous-role", "reader"], &env);
    let health = get_json(&b.url("/health"));
    assert_eq!(health["store"]["backend"], "postgres");

    // Quai de Bercy: an empty z15 tile on both replicas before the write.
    let tile = "/tiles/entries/15/16600/11275";
    let events_b = listen(&b, None);
    std::thread::sleep(Duration::from_millis(200));
    let before_b = tile_ids(&b, tile);
    let near = |s: &Server| -> u64 {
        get_json(&s.url("/api/query?circle=2.3745,48.8376,50"))["numberMatched"].as_u64().unwrap()
    };
    let near_before = near(&b);
    let mut latencies = Vec::new();
    for i in 0..10 {
        let t = Instant::now();
        let e = post(&a, &json!({"title": format!("Réplique {i}"), "severity": 3, "lon": 2.3745, "lat": 48.8376}));
        let id = e["id"].as_u64().unwrap();
        let (_, got, at) = events_b.recv_timeout(Duration::from_secs(5)).expect("B streams the event");
        assert_eq!(got, id);
        // The event means B's index has it: the tile shows it at once.
        assert!(tile_ids(&b, tile).contains(&id), "entry {id} in B's tile");
        latencies.push(at - t);
    }
    latencies.sort();
    println!(
        "write on A → event on B: p50 {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(latencies.iter().all(|l| *l < Duration::from_secs(1)), "{latencies:?}");
    assert_eq!(tile_ids(&b, tile).len(), before_b.len() + 10);
    assert_eq!(near(&b), near_before + 10, "B's region query sees A's writes");

    // B goes down; A keeps writing; B comes back and catches up from the feed.
    let last_seen = 10;
    drop(events_b);
    b.kill();
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(
            post(&a, &json!({"title": format!("Pendant la panne {i}"), "severity": 1, "lon": 2.3745, "lat": 48.8376}))
                ["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let b = Server::start_with_env(db_dir.path(), &["--anonymous-role", "reader"], &env);
    let replay = listen(&b, Some(last_seen));
    let got: Vec<u64> = (0..5).map(|_| replay.recv_timeout(Duration::from_secs(5)).unwrap().1).collect();
    assert_eq!(got, missed, "the events B missed, in order");
    let ids = tile_ids(&b, tile);
    assert!(missed.iter().all(|id| ids.contains(id)));
    drop(a);
    drop(b);
    rt.block_on(db.drop_db());
}

/// Runs the `vigie` command line on the shared database; its stdout and stderr.
fn cli(args: &[&str], env: &[(&str, &str)], data_dir: &std::path::Path) -> (String, String) {
    let out = std::process::Command::new(crate::support::vigie_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "vigie {args:?}: {o}{e}");
    (o, e)
}

/// How long replica `b` keeps accepting a credential after `revoke` ran on replica `a`.
fn refused_after(b: &Server, auth: (&str, &str), revoke: impl FnOnce()) -> Duration {
    let agent = agent();
    let status = || agent.get(&b.url("/catalog")).header(auth.0, auth.1).call().unwrap().status().as_u16();
    assert_eq!(status(), 200, "accepted before");
    revoke();
    let t0 = Instant::now();
    while status() != 401 {
        assert!(t0.elapsed() < Duration::from_secs(5), "still accepted 5 s after revocation");
        std::thread::sleep(Duration::from_millis(10));
    }
    t0.elapsed()
}

#[test]
fn a_token_or_session_revoked_on_one_replica_is_refused_by_the_other_within_a_second() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let env = [("DATABASE_URL", db.url.as_str())];
    let (da, db_dir, cli_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_with_env(da.path(), &["--demo", "--demo-entries", "100", "--require-sign-in"], &env);
    let b = Server::start_with_env(db_dir.path(), &["--require-sign-in"], &env);
    let (out, _) = cli(&["user", "add", "boss", "--role", "admin"], &env, cli_dir.path());
    let password = out.lines().find_map(|l| l.strip_prefix("password (shown once): ")).unwrap().to_owned();
    let (reader, stderr) = cli(&["token", "create", "--user", "boss", "--name", "feed"], &env, cli_dir.path());
    let id: u64 = stderr.split_once('#').unwrap().1.split_whitespace().next().unwrap().parse().unwrap();
    let (admin, _) =
        cli(&["token", "create", "--user", "boss", "--name", "ops", "--role", "admin"], &env, cli_dir.path());
    let (reader, admin) = (format!("Bearer {}", reader.trim()), format!("Bearer {}", admin.trim()));

    let token_lag = refused_after(&b, ("authorization", &reader), || {
        let r = agent().delete(&a.url(&format!("/api/tokens/{id}"))).header("authorization", &admin).call().unwrap();
        assert_eq!(r.status(), 204);
    });
    let mut signed = agent()
        .post(&a.url("/api/session"))
        .header("content-type", "application/json")
        .send(json!({"name": "boss", "password": password}).to_string())
        .unwrap();
    assert_eq!(signed.status(), 200);
    let cookie = signed.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = serde_json::from_str::<Value>(&signed.body_mut().read_to_string().unwrap()).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let session_lag = refused_after(&b, ("cookie", &cookie), || {
        let r = agent()
            .delete(&a.url("/api/session"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .call()
            .unwrap();
        assert_eq!(r.status(), 204);
    });
    println!("refused by the other replica after: token {token_lag:?}, session {session_lag:?}");
    assert!(token_lag < Duration::from_secs(1) && session_lag < Duration::from_secs(1));
    drop((a, b));
    rt.block_on(db.drop_db());
}

/// The smallest pool a configuration allows (two connections) serves: the change feed's and the
/// reports' listeners hold connections of their own. They used to take both of the pool's,
/// and every query then waited 5 s for a connection and failed.
#[test]
fn a_server_with_a_pool_of_two_serves_writes_and_reads() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigie.toml");
    std::fs::write(&config, "[database]\npool_size = 2\n").unwrap();
    let env = [("DATABASE_URL", db.url.as_str()), ("VIGIE_CONFIG", config.to_str().unwrap())];
    let server = Server::start_with_env(dir.path(), &["--demo", "--demo-entries", "50"], &env);
    // Past the pool's 5 s acquire timeout, with both listeners long started.
    std::thread::sleep(Duration::from_secs(6));
    for i in 0..20 {
        let e = post(
            &server,
            &json!({"title": format!("pool {i}"), "severity": 1, "tags": ["crowd"], "lon": 2.35, "lat": 48.85}),
        );
        assert!(e["id"].as_u64().is_some(), "{e}");
    }
    let ready = agent().get(&server.url("/readyz")).call().unwrap();
    assert_eq!(ready.status(), 200);
    drop(server);
    rt.block_on(db.drop_db());
}

/// A TCP relay to PostgreSQL that can be cut (every connection through it closed, new ones
/// refused) and healed: a network partition between one replica and the database.
struct Partition {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Partition {
    fn start(target: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (o, s) = (open.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else { continue };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                let mut kept = s.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Self { port, open, streams }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Polls `f` every 200 ms for up to `limit`; whether it became true.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn a_replica_cut_off_from_the_database_says_so_and_catches_up_in_order_when_it_comes_back() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let env = [("DATABASE_URL", db.url.as_str())];
    // postgres://user@host:port/name: B reaches the same database through the relay.
    let (head, tail) = db.url.rsplit_once('@').unwrap();
    let (host_port, name) = tail.split_once('/').unwrap();
    let port: u16 = host_port.rsplit_once(':').map_or(5432, |(_, p)| p.parse().unwrap());
    let partition = Partition::start(port);
    let through = format!("{head}@127.0.0.1:{}/{name}", partition.port);
    let env_b = [("DATABASE_URL", through.as_str())];
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_with_env(da.path(), &["--demo", "--demo-entries", "200"], &env);
    let b = Server::start_with_env(db_dir.path(), &["--anonymous-role", "reader"], &env_b);
    let tile = "/tiles/entries/15/16600/11275";
    // B listens before the first write, so its stream holds every write of the test.
    let events_b = listen(&b, None);
    let first = post(&a, &json!({"title": "Avant la coupure", "severity": 2, "lon": 2.3745, "lat": 48.8376}));
    assert!(within(Duration::from_secs(5), || tile_ids(&b, tile).contains(&first["id"].as_u64().unwrap())));
    let ready = |s: &Server| agent().get(&s.url("/readyz")).call().map_or(0, |r| r.status().as_u16());
    assert_eq!(ready(&b), 200);

    // Cut: A goes on writing; B says it is not ready (its change feed is lost) and keeps
    // serving what it has.
    partition.cut();
    let written: Vec<u64> = (0..20)
        .map(|i| {
            post(&a, &json!({"title": format!("Pendant la coupure {i}"), "severity": 1, "lon": 2.3745, "lat": 48.8376}))
                ["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(within(Duration::from_secs(30), || ready(&b) == 503), "B never said it was cut off");
    assert!(tile_ids(&b, tile).contains(&first["id"].as_u64().unwrap()), "B still serves its index");

    // Healed: B catches up by itself, in order, with no gap, and is ready again.
    partition.heal();
    assert!(within(Duration::from_secs(30), || ready(&b) == 200), "B did not come back within 30 s");
    let ids = tile_ids(&b, tile);
    let missing: Vec<&u64> = written.iter().filter(|id| !ids.contains(id)).collect();
    assert!(missing.is_empty(), "B's tile lacks {missing:?}");
    // The stream B held through the cut, or a new one from the last event it gave (from the
    // start of its log when it gave none): at most 90 s in all, then the test fails saying what
    // arrived.
    let expected: Vec<u64> = std::iter::once(first["id"].as_u64().unwrap()).chain(written.iter().copied()).collect();
    let (mut streamed, mut seqs, mut last) = (Vec::new(), Vec::new(), None);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut rx = events_b;
    while streamed.len() < expected.len() {
        assert!(Instant::now() < deadline, "B streamed {streamed:?} of {expected:?} within 90 s");
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((seq, id, _)) => {
                last = Some(seq);
                if expected.contains(&id) {
                    seqs.push(seq);
                    streamed.push(id);
                }
            }
            Err(_) => rx = listen(&b, Some(last.unwrap_or(0))),
        }
    }
    assert_eq!(streamed, expected, "B's events, in order, none missed");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap-free: {seqs:?}");
    drop(a);
    drop(b);
    rt.block_on(db.drop_db());
}
