//! Liaison-officer staffing at the size of a national command centre (issue 17): 1,300
//! officers, 40 directorates, 300 positions, 4 alert levels, 6 weeks of three 8-hour shifts
//! (126 shifts). The roster starts with the first two weeks filled at the lower level (the
//! suggestions at "vigilance renforcée", confirmed: about 15,000 assignments), as a plan in
//! use would be.
//!
//! - `gap_report`: the gap report at "crise" over the 6 weeks (what `GET /api/staffing/gaps`
//!   computes once the roster is in memory), target ≤ 50 ms;
//! - `suggest`: a full suggestion run at "crise" over the 6 weeks on that roster, target ≤ 2 s;
//! - `suggest_empty`: the same from an empty roster (every slot open);
//! - `check_one`: the rule check of one assignment, target ≤ 1 ms;
//! - `index`: building the roster's indexes from the stored rows (what a change costs before
//!   the next answer).

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::civil::date;
use std::hint::black_box;
use std::time::Duration;
use vigie_benches::{print_machine, quick_median, ratio};
use vigie_staffing::demo::{Size, instance};
use vigie_staffing::{Assignment, Roster, Status};

fn roster() -> (Roster, Roster, Vec<vigie_staffing::Shift>) {
    let venues: Vec<String> = (1..=40).map(|i| format!("V{i:02}")).collect();
    let size = Size { people: 1_300, directorates: 40, positions: 300, skills: 6 };
    let mut rng = vigie_layers::demo::Rng::new(17);
    let (plan, people) = instance(&mut || rng.next_u64(), &size, &venues);
    let shifts = plan.pattern().expect("pattern").shifts(date(2027, 1, 4), date(2027, 2, 14));
    let empty = Roster::new(plan.clone(), people.clone(), Vec::new(), Vec::new(), Vec::new(), 1).expect("roster");
    let assignments: Vec<Assignment> = empty
        .suggest(1, &shifts[..42], 0)
        .proposals
        .into_iter()
        .zip(1..)
        .map(|(p, id)| Assignment {
            id,
            person: p.person,
            position: p.position,
            day: p.day,
            shift: p.shift,
            start: p.start,
            end: p.end,
            status: Status::Confirmed,
            by: "bench".into(),
            at: 0,
        })
        .collect();
    (Roster::new(plan, people, Vec::new(), assignments, Vec::new(), 2).expect("roster"), empty, shifts)
}

fn benches(c: &mut Criterion) {
    print_machine();
    let (roster, empty, shifts) = roster();
    let report = roster.gaps(2, &shifts, 5_000);
    let s = roster.suggest(2, &shifts, 0);
    let e = empty.suggest(2, &shifts, 0);
    println!(
        "staffing: {} people, {} positions, {} shifts, {} assignments; at crise {} needed, {} short in {} slots; suggestions fill {} of {} open ({} of {} from an empty roster)",
        roster.people.len(),
        roster.plan.positions.len(),
        shifts.len(),
        roster.assignments.len(),
        report.totals.needed,
        report.totals.short,
        report.gaps_total,
        s.proposals.len(),
        s.open,
        e.proposals.len(),
        e.open
    );
    let gap = quick_median(11, || {
        black_box(roster.gaps(2, &shifts, 5_000));
    });
    let suggest = quick_median(3, || {
        black_box(roster.suggest(2, &shifts, 0));
    });
    let person = roster.person_index(&roster.assignments[0].person).expect("person");
    let a = &roster.assignments[0];
    let position = roster.plan.position(&a.position).expect("position").clone();
    let probe = [a.start + 24 * 3_600_000, a.end + 24 * 3_600_000];
    let check = quick_median(101, || {
        black_box(roster.check(person, &position, probe, None, &[]));
    });
    println!(
        "quick medians: gap report {:.2} ms ({} of 50 ms), suggestions {:.0} ms ({} of 2 s), one check {:.1} µs ({} of 1 ms)",
        gap.as_secs_f64() * 1e3,
        ratio(gap, Duration::from_millis(50)),
        suggest.as_secs_f64() * 1e3,
        ratio(suggest, Duration::from_secs(2)),
        check.as_secs_f64() * 1e6,
        ratio(check, Duration::from_millis(1)),
    );
    let rows = (
        roster.plan.clone(),
        roster.people.clone(),
        roster.unavailable.clone(),
        roster.assignments.clone(),
        roster.levels.clone(),
    );
    let mut g = c.benchmark_group("staffing_1300");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("gap_report", |b| b.iter(|| roster.gaps(black_box(2), &shifts, 5_000)));
    g.bench_function("suggest", |b| b.iter(|| roster.suggest(black_box(2), &shifts, 0)));
    g.bench_function("suggest_empty", |b| b.iter(|| empty.suggest(black_box(2), &shifts, 0)));
    g.bench_function("check_one", |b| b.iter(|| roster.check(person, &position, black_box(probe), None, &[])));
    g.bench_function("index", |b| {
        b.iter(|| {
            let (plan, people, away, assignments, levels) = rows.clone();
            Roster::new(plan, people, away, assignments, levels, 3).expect("roster")
        });
    });
    g.finish();
}

criterion_group!(staffing, benches);
criterion_main!(staffing);
