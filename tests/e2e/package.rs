//! The Debian package (`packaging/deb/build`) of this build's binary: its contents, its unit
//! checked by `systemd-analyze verify`, installed with `dpkg -i` on this machine, the installed
//! binary serving the demo as the `vigie` user with its store in /var/lib/vigie, then removed and
//! purged with the store kept.
//!
//! It changes the machine (package, system user, /var/lib/vigie), so it needs root: as another
//! user it fails saying so, it is never skipped. It leaves the `vigie` user behind (as the
//! package does) and removes the rest; a leftover of an interrupted run is purged first.

use crate::support::{agent, free_port, repo_root, require_tool, run, vigie_bin};
use std::collections::BTreeSet;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigie_tileserver::config::{Config, FileConfig, ServeArgs};

const STATE_DIR: &str = "/var/lib/vigie";
/// Written into /var/lib/vigie once the test installed the package: a directory holding it
/// was made by this test, and may be deleted by the next run.
const MARKER: &str = ".vigie-e2e-package-test";

#[test]
fn debian_package_installs_serves_as_vigie_and_keeps_the_data() {
    let uid = run(Command::new("id").arg("-u"));
    assert_eq!(
        uid.trim(),
        "0",
        "this test installs a Debian package and creates the `vigie` system user: run it as root (CI does)"
    );
    let dpkg = require_tool("dpkg", "apt-get install -y dpkg");
    let dpkg_deb = require_tool("dpkg-deb", "apt-get install -y dpkg");
    let systemd_analyze = require_tool("systemd-analyze", "apt-get install -y systemd");
    require_tool("help2man", "apt-get install -y help2man");
    require_tool("objdump", "apt-get install -y binutils");
    require_tool("adduser", "apt-get install -y adduser");
    let setpriv = require_tool("setpriv", "apt-get install -y util-linux");

    let _cleanup = Cleanup { dpkg: dpkg.clone() };
    forget_earlier_runs(&dpkg);

    // Build the package from this build's binary.
    let out = tempfile::tempdir().unwrap();
    let built = run(Command::new(repo_root().join("packaging/deb/build"))
        .arg("--binary")
        .arg(vigie_bin())
        .arg("--out")
        .arg(out.path()));
    let deb = PathBuf::from(built.lines().last().expect("the build prints the package's path"));
    let arch = run(Command::new(&dpkg).arg("--print-architecture"));
    let version = env!("CARGO_PKG_VERSION").replace('-', "~");
    assert_eq!(deb, out.path().join(format!("vigie_{version}_{}.deb", arch.trim())));

    // What is in it.
    let listing = run(Command::new(&dpkg_deb).arg("-c").arg(&deb));
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
    };
    assert!(entry("/usr/bin/vigie").starts_with("-rwxr-xr-x root/root"), "{}", entry("/usr/bin/vigie"));
    assert!(entry("/etc/default/vigie").starts_with("-rw-r----- root/root"), "secrets file not world-readable");
    for path in [
        "/lib/systemd/system/vigie.service",
        "/etc/vigie/vigie.toml",
        "/usr/share/man/man1/vigie.1.gz",
        "/usr/share/man/man1/vigie-serve.1.gz",
        "/usr/share/doc/vigie/copyright",
        "/usr/share/doc/vigie/changelog.gz",
        "/usr/share/doc/vigie/configuration.md",
        "/usr/share/doc/vigie/examples/sources.example.toml",
    ] {
        entry(path);
    }
    let info = run(Command::new(&dpkg_deb).arg("-I").arg(&deb));
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim_start().strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in the control file:\n{info}"))
    };
    assert_eq!(field("Package"), "vigie");
    assert_eq!(field("Version"), version);
    assert!(field("Depends").starts_with("adduser, libc6 (>= 2."), "{}", field("Depends"));
    let conffiles = run(Command::new(&dpkg_deb).arg("-I").arg(&deb).arg("conffiles"));
    assert_eq!(
        conffiles.lines().collect::<BTreeSet<_>>(),
        BTreeSet::from(["/etc/default/vigie", "/etc/vigie/vigie.toml"])
    );

    // The files themselves, unpacked: the man pages came from the binary's --help, the
    // configuration documents every key there is.
    let tree = tempfile::tempdir().unwrap();
    run(Command::new(&dpkg_deb).arg("-x").arg(&deb).arg(tree.path()));
    let man = gunzip(&tree.path().join("usr/share/man/man1/vigie-serve.1.gz"));
    assert!(man.contains(".TH VIGIE-SERVE") && man.contains("\\-\\-config"), "vigie-serve(1):\n{man}");
    let man = gunzip(&tree.path().join("usr/share/man/man1/vigie.1.gz"));
    assert!(man.contains("/etc/vigie/vigie.toml") && man.contains("vigie-serve"), "vigie(1):\n{man}");
    let config = std::fs::read_to_string(tree.path().join("etc/vigie/vigie.toml")).unwrap();
    every_key_is_documented(&config);

    // Install twice: the second is an upgrade in place, and must find the user and the
    // directories already there.
    run(Command::new(&dpkg).arg("-i").arg(&deb));
    run(Command::new(&dpkg).arg("-i").arg(&deb));
    std::fs::write(Path::new(STATE_DIR).join(MARKER), "made by tests/e2e/package.rs\n").unwrap();
    let passwd = run(Command::new("getent").args(["passwd", "vigie"]));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!((fields[5], fields[6]), (STATE_DIR, "/usr/sbin/nologin"), "{passwd}");
    let vigie_uid: u32 = fields[2].parse().unwrap();
    let vigie_gid: u32 = fields[3].parse().unwrap();
    assert!(vigie_uid < 1000, "vigie is a system user: {passwd}");
    let state = std::fs::metadata(STATE_DIR).unwrap();
    assert_eq!((state.uid(), state.gid(), state.permissions().mode() & 0o7777), (vigie_uid, vigie_gid, 0o750));
    let env_file = std::fs::metadata("/etc/default/vigie").unwrap();
    assert_eq!((env_file.uid(), env_file.gid(), env_file.permissions().mode() & 0o7777), (0, vigie_gid, 0o640));
    let status = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "vigie"]));
    assert_eq!(status, "install ok installed");

    // systemd accepts the installed unit: its keys and values, its ExecStart. Offline, no
    // systemd need run (the unit is checked against the units installed on this machine). A
    // key it does not know or a value it cannot parse is only a line on stderr. Its man page
    // was checked in the package above (`man` finding it depends on the machine: minimal
    // images exclude /usr/share/man from what dpkg installs).
    let verify = Command::new(&systemd_analyze)
        .args(["verify", "--man=no", "/lib/systemd/system/vigie.service"])
        .output()
        .unwrap();
    let remarks = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(
        verify.status.success() && remarks.trim().is_empty(),
        "systemd-analyze verify: {}\n{remarks}",
        verify.status
    );
    let security = run(Command::new(&systemd_analyze).args([
        "security",
        "--offline=true",
        "--no-pager",
        "/lib/systemd/system/vigie.service",
    ]));
    let exposure: f64 = security
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for vigie.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{security}"));
    assert!(exposure <= 2.0, "the unit's hardening weakened: exposure {exposure} (1.2 when written)\n{security}");

    // The installed binary accepts the installed configuration.
    run(Command::new("/usr/bin/vigie").args(["config", "check", "/etc/vigie/vigie.toml"]));

    // The installed binary serves the demo as the vigie user, as the unit runs it.
    let port = free_port();
    let mut server = Running(
        Command::new(&setpriv)
            .args(["--reuid=vigie", "--regid=vigie", "--init-groups", "--no-new-privs", "--"])
            .args(["/usr/bin/vigie", "serve", "--config", "/etc/vigie/vigie.toml", "--demo", "--demo-entries", "2000"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(STATE_DIR)
            .env("VIGIE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("setpriv starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&mut server.0, &format!("{base}/health"));
    let process_uid = std::fs::read_to_string(format!("/proc/{}/status", server.0.id())).unwrap();
    let real_uid = process_uid.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap().split_whitespace().next();
    assert_eq!(real_uid, Some(vigie_uid.to_string().as_str()), "the server runs as vigie");
    let tile = agent().get(&format!("{base}/tiles/venues,perimeters/12/2074/1409.mvt")).call().unwrap();
    assert_eq!(tile.status(), 200, "a demo tile");
    let store = Path::new(STATE_DIR).join("vigie.db");
    let meta = std::fs::metadata(&store).unwrap_or_else(|e| panic!("no store at {}: {e}", store.display()));
    assert_eq!((meta.uid(), meta.gid()), (vigie_uid, vigie_gid), "the store belongs to vigie");

    // SIGTERM (what systemctl stop sends) ends it within the unit's TimeoutStopSec.
    run(Command::new("kill").args(["-TERM", &server.0.id().to_string()]));
    let deadline = Instant::now() + Duration::from_secs(45);
    let exit = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "vigie still runs 45 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "vigie exits cleanly on SIGTERM: {exit}");

    // Removal takes the program, keeps the configuration and the data.
    run(Command::new(&dpkg).args(["-r", "vigie"]));
    assert!(!Path::new("/usr/bin/vigie").exists(), "dpkg -r removes the binary");
    assert!(!Path::new("/lib/systemd/system/vigie.service").exists());
    assert!(Path::new("/etc/vigie/vigie.toml").is_file(), "dpkg -r keeps the configuration");
    assert!(store.is_file(), "dpkg -r keeps the store");
    // Purge takes the configuration, keeps the data and the user, and says so.
    let said = run(Command::new(&dpkg).args(["--purge", "vigie"]));
    assert!(said.contains("/var/lib/vigie") && said.contains("kept"), "purge tells where the data is:\n{said}");
    assert!(
        !Path::new("/etc/vigie").exists() && !Path::new("/etc/default/vigie").exists(),
        "purge removes the configuration"
    );
    assert!(store.is_file(), "dpkg --purge keeps the store");
    run(Command::new("getent").args(["passwd", "vigie"]));
}

/// Every key the configuration accepts, table by table, is in the packaged file (commented
/// with its default), and the file with every setting uncommented is a valid configuration.
fn every_key_is_documented(config: &str) {
    // Uncomment the settings: "#key = ..." and "#[table]"; explanations are "# ...".
    let all: String = config
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
            _ => l,
        })
        .fold(String::new(), |text, l| text + l + "\n");
    let file: FileConfig = toml::from_str(&all).unwrap_or_else(|e| panic!("vigie.toml, uncommented: {e}\n{all}"));
    Config::resolve(file, &ServeArgs::default()).unwrap_or_else(|e| panic!("vigie.toml, uncommented: {e:#}"));
    let written: toml::Table = toml::from_str(&all).unwrap();
    for table in ["", "demo", "database", "workspace_sources", "auth", "auth.oidc"] {
        let header = if table.is_empty() { String::new() } else { format!("[{table}]\n") };
        let err = toml::from_str::<FileConfig>(&format!("{header}zzz_not_a_key = 0\n")).unwrap_err().to_string();
        let (_, expected) = err.split_once("expected").unwrap_or_else(|| panic!("no key list in: {err}"));
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        assert!(!keys.is_empty(), "no key list in: {err}");
        let mut section = &written;
        for part in table.split('.').filter(|p| !p.is_empty()) {
            section = section.get(part).and_then(toml::Value::as_table).unwrap_or_else(|| panic!("no [{table}]"));
        }
        for key in keys {
            let place = if table.is_empty() { "at the top".to_owned() } else { format!("in [{table}]") };
            assert!(section.contains_key(key), "packaging/deb/vigie.toml does not document `{key}` {place}");
        }
    }
}

/// Waits until `url` answers 200, failing if the server exits first or within a minute.
fn wait_healthy(server: &mut Child, url: &str) {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the installed vigie exited before it was healthy: {status}");
        }
        if let Ok(r) = agent().get(url).call()
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "the installed vigie did not answer {url} with 200 within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    text
}

/// Purges a vigie package left installed and a /var/lib/vigie left by an earlier run of this
/// test; refuses to touch a /var/lib/vigie holding data this test did not make.
fn forget_earlier_runs(dpkg: &Path) {
    run(Command::new(dpkg).args(["--purge", "vigie"]));
    let dir = Path::new(STATE_DIR);
    if dir.exists() {
        let empty = std::fs::read_dir(dir).unwrap().next().is_none();
        assert!(
            empty || dir.join(MARKER).exists(),
            "{STATE_DIR} holds data this test did not make: move it away before running the test"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A process killed when dropped (a failed assertion must not leave the server running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Purges the package and deletes /var/lib/vigie if this test made it, whether the test
/// passed or not. The `vigie` user stays, as after a purge.
struct Cleanup {
    dpkg: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ =
            Command::new(&self.dpkg).args(["--purge", "vigie"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if Path::new(STATE_DIR).join(MARKER).exists() {
            let _ = std::fs::remove_dir_all(STATE_DIR);
        }
    }
}
