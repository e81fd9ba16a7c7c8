//! Writes the staffing instance of the benchmarks (the same as `benches/benches/staffing.rs`:
//! 1,300 officers, 40 directorates, 300 positions, 4 levels) as the API takes it: the plan
//! (`PUT /api/staffing/plan`) and the roster CSV (`POST /api/staffing/people`).
//!
//! ```sh
//! cargo run --release -p vigie-benches --bin staffing_instance -- OUT_DIR VENUE_CODE...
//! ```
//! Writes `OUT_DIR/plan.json` and `OUT_DIR/people.csv`; positions are spread over the venue
//! codes given (those of the server's workspace), every fifth in the crisis room.

use std::fmt::Write as _;
use std::path::PathBuf;
use vigie_staffing::demo::{Size, instance};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: staffing_instance OUT_DIR VENUE_CODE...");
        std::process::exit(2);
    };
    let venues: Vec<String> = args.collect();
    let size = Size { people: 1_300, directorates: 40, positions: 300, skills: 6 };
    let mut rng = vigie_layers::demo::Rng::new(17);
    let (plan, people) = instance(&mut || rng.next_u64(), &size, &venues);
    let mut csv = String::from("id,name,directorate,skills,phone,email\n");
    for p in &people {
        let _ = writeln!(csv, "{},{},{},{},{},{}", p.id, p.name, p.directorate, p.skills.join(";"), p.phone, p.email);
    }
    let plan = serde_json::to_string_pretty(&plan).expect("the plan is JSON");
    for (name, text) in [("plan.json", plan), ("people.csv", csv)] {
        let path = out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}
