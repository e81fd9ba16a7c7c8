//! The staffing domain end to end: gap reports, suggestions against an exhaustive search and
//! against every rule, exports.

use jiff::civil::date;
use proptest::prelude::*;
use std::collections::HashMap;
use vigie_layers::demo::Rng;
use vigie_staffing::demo::{Size, instance};
use vigie_staffing::plan::{Place, Plan, Position};
use vigie_staffing::roster::{Assignment, LevelChange, Person, Roster, Status, Unavailability};
use vigie_staffing::shifts::{HOUR_MS, Shift};
use vigie_staffing::suggest::{best_matching, candidates, open_slots};

fn person(id: &str, directorate: &str, skills: &[&str]) -> Person {
    Person {
        id: id.into(),
        name: format!("Agent {id}"),
        directorate: directorate.into(),
        skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        phone: String::new(),
        email: String::new(),
    }
}

fn position(id: &str, directorate: &str, needs: [u32; 4], venue: Option<&str>) -> Position {
    Position {
        id: id.into(),
        title: format!("Poste {id}"),
        directorate: directorate.into(),
        place: Place { venue: venue.map(str::to_owned), ..Place::default() },
        skills: Vec::new(),
        needs: needs.to_vec(),
    }
}

fn assign(id: u64, person: &str, position: &str, s: &Shift, status: Status) -> Assignment {
    Assignment {
        id,
        person: person.into(),
        position: position.into(),
        day: s.day.clone(),
        shift: s.name.clone(),
        start: s.start,
        end: s.end,
        status,
        by: "test".into(),
        at: 0,
    }
}

fn week(plan: &Plan) -> Vec<Shift> {
    plan.pattern().unwrap().shifts(date(2027, 1, 4), date(2027, 1, 10))
}

#[test]
fn the_gap_report_counts_confirmed_proposed_declined_and_the_unavailable() {
    let plan = Plan {
        positions: vec![
            position("pn", "DGPN", [1, 2, 2, 3], Some("STA")),
            position("gn", "DGGN", [0, 0, 1, 1], None),
            position("sante", "ARS", [0, 1, 1, 1], Some("STA")),
        ],
        ..Plan::default()
    };
    let shifts = week(&plan);
    let s0 = &shifts[0];
    let people = vec![person("a", "DGPN", &[]), person("b", "DGPN", &[]), person("c", "DGPN", &[])];
    let assignments = vec![
        assign(1, "a", "pn", s0, Status::Confirmed),
        assign(2, "b", "pn", s0, Status::Proposed),
        assign(3, "c", "pn", s0, Status::Declined),
        assign(4, "c", "pn", &shifts[1], Status::Confirmed),
    ];
    let away = vec![Unavailability {
        id: 1,
        person: "c".into(),
        start: shifts[1].start,
        end: shifts[1].end,
        reason: "congé".into(),
    }];
    let roster = Roster::new(plan, people, away, assignments, Vec::new(), 1).unwrap();
    // Level 0: only "pn" is open, 1 per shift, 21 shifts.
    let r = roster.gaps(0, &shifts, 1000);
    assert_eq!(r.totals.needed, 21);
    assert_eq!(r.totals.confirmed, 1, "the declined one and the one away do not count");
    assert_eq!(r.totals.short, 20);
    assert_eq!(r.gaps_total, 20);
    let second = r.gaps.iter().find(|g| g.start == shifts[1].start).unwrap();
    assert_eq!(second.unavailable, 1);
    // Level 1: pn needs 2 (a confirmed, b proposed on the first shift) and sante opens.
    let r1 = roster.gaps(1, &shifts, 1000);
    let first = r1.gaps.iter().find(|g| g.start == s0.start && g.position == "pn").unwrap();
    assert_eq!((first.totals.short, first.totals.uncovered), (1, 0));
    assert_eq!(r.raise.as_ref().unwrap().extra_short, r1.totals.short - r.totals.short);
    assert_eq!(r.raise.as_ref().unwrap().opening, vec!["sante"]);
    assert_eq!(r1.raise.as_ref().unwrap().opening, vec!["gn"]);
    let by_place: HashMap<&str, u64> = r1.by_place.iter().map(|g| (g.key.as_str(), g.totals.needed)).collect();
    assert_eq!(by_place["venue:STA"], 21 * 3);
    assert_eq!(r1.by_directorate.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), vec!["ARS", "DGPN"]);
    assert!(roster.gaps(3, &shifts, 10).raise.is_none(), "nothing above the top level");
    assert_eq!(roster.gaps(3, &shifts, 10).gaps.len(), 10, "the limit holds");
}

#[test]
fn a_check_names_every_rule_it_breaks() {
    let mut desk = position("radio", "DGPN", [1, 1, 1, 1], None);
    desk.skills = vec!["radio".into()];
    let plan = Plan { positions: vec![desk.clone()], ..Plan::default() };
    let shifts = week(&plan);
    let people = vec![person("a", "DGGN", &[]), person("b", "DGPN", &["radio"])];
    let away = vec![Unavailability {
        id: 1,
        person: "b".into(),
        start: shifts[4].start,
        end: shifts[4].start + HOUR_MS,
        reason: String::new(),
    }];
    let assignments = vec![assign(1, "b", "radio", &shifts[1], Status::Confirmed)];
    let roster = Roster::new(plan, people, away, assignments, Vec::new(), 1).unwrap();
    let rules = |who: usize, s: &Shift| -> Vec<&'static str> {
        roster.check(who, &desk, [s.start, s.end], None, &[]).into_iter().map(|b| b.rule).collect()
    };
    assert_eq!(rules(0, &shifts[0]), vec!["directorate", "skills"]);
    assert_eq!(rules(1, &shifts[1]), vec!["overlap"]);
    assert_eq!(rules(1, &shifts[2]), vec!["rest"], "evening then night: no rest");
    assert_eq!(rules(1, &shifts[3]), vec!["rest"], "evening then the next morning: 8 h of rest");
    assert_eq!(rules(1, &shifts[4]), vec!["unavailable"], "the next evening: 16 h of rest, but away");
    assert!(rules(1, &shifts[5]).is_empty());
    assert!(
        roster.check(1, &desk, [shifts[1].start, shifts[1].end], Some(1), &[]).is_empty(),
        "the assignment itself left out"
    );
}

#[test]
fn the_level_in_effect_follows_past_changes_not_scheduled_ones() {
    let change = |id, level, at| LevelChange {
        id,
        level,
        name: String::new(),
        at,
        reason: String::new(),
        by: String::new(),
        entry: None,
    };
    let roster =
        Roster::new(Plan::default(), Vec::new(), Vec::new(), Vec::new(), vec![change(2, 3, 200), change(1, 2, 100)], 1)
            .unwrap();
    assert_eq!((roster.level_at(50), roster.level_at(100), roster.level_at(199), roster.level_at(500)), (0, 2, 2, 3));
}

/// The most slots one shift can fill, by trying everything.
fn exhaustive(slots: &[(usize, Vec<usize>)], used: &mut Vec<usize>) -> usize {
    let Some(((_, who), rest)) = slots.split_first() else { return 0 };
    let mut best = exhaustive(rest, used);
    for &p in who {
        if !used.contains(&p) {
            used.push(p);
            best = best.max(1 + exhaustive(rest, used));
            used.pop();
        }
    }
    best
}

/// A small random roster: people of two directorates with random skills and leave, positions
/// needing 0 to 2, some shifts already worked.
fn small(seed: u64) -> Roster {
    let mut r = Rng::new(seed);
    let mut plan = Plan::default();
    let dirs = ["A", "B"];
    for i in 0..(2 + r.below(3)) {
        let mut p = position(&format!("p{i}"), dirs[r.below(2)], [0; 4], None);
        p.needs = (0..4).map(|_| r.below(3) as u32).collect();
        if r.below(3) == 0 {
            p.skills = vec!["radio".into()];
        }
        plan.positions.push(p);
    }
    let shifts = plan.pattern().unwrap().shifts(date(2027, 3, 26), date(2027, 3, 29));
    let people: Vec<Person> = (0..(2 + r.below(6)))
        .map(|i| {
            let d = dirs[r.below(2)];
            let radio = r.below(2) == 0;
            person(&format!("x{i}"), d, if radio { &["radio"] } else { &[] })
        })
        .collect();
    let mut assignments = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if r.below(2) == 0 {
            let s = &shifts[r.below(4)];
            assignments.push(assign(i as u64 + 1, &p.id, "elsewhere", s, Status::Confirmed));
        }
    }
    let mut away = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if r.below(4) == 0 {
            let s = &shifts[4 + r.below(8)];
            away.push(Unavailability {
                id: i as u64,
                person: p.id.clone(),
                start: s.start,
                end: s.end,
                reason: String::new(),
            });
        }
    }
    Roster::new(plan, people, away, assignments, Vec::new(), 1).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// For every shift, the suggestions fill as many slots as an exhaustive search can.
    #[test]
    fn each_shift_fills_as_many_slots_as_an_exhaustive_search(seed in any::<u64>(), level in 0usize..4) {
        let roster = small(seed);
        let shifts = roster.pattern.shifts(date(2027, 3, 27), date(2027, 3, 28));
        let extra = HashMap::new();
        let fit = candidates(&roster);
        for shift in &shifts {
            let slots = open_slots(&roster, level, shift, &extra, &fit);
            let found = best_matching(&slots, &|_| 0).iter().filter(|c| c.is_some()).count();
            prop_assert_eq!(found, exhaustive(&slots, &mut Vec::new()));
        }
    }

    /// No suggestion breaks a rule: each person's whole schedule with the proposals keeps
    /// the labour rules (over the night clocks go forward), every proposal fits its position
    /// and its person is available, and no slot gets more than it lacks.
    #[test]
    fn no_suggestion_ever_breaks_a_rule(seed in any::<u64>(), level in 0usize..4) {
        let roster = small(seed);
        let shifts = roster.pattern.shifts(date(2027, 3, 27), date(2027, 3, 29));
        let s = roster.suggest(level, &shifts, 0);
        prop_assert_eq!(s.open, s.proposals.len() + s.unfilled);
        let mut per_slot: HashMap<(&str, i64), u64> = HashMap::new();
        for p in &s.proposals {
            let who = roster.person_index(&p.person).unwrap();
            let pos = roster.plan.position(&p.position).unwrap();
            prop_assert!(roster.people[who].fits(pos));
            prop_assert!(roster.away(who, p.start, p.end).is_none());
            *per_slot.entry((p.position.as_str(), p.start)).or_default() += 1;
        }
        for ((position, start), n) in per_slot {
            let i = roster.position_index(position).unwrap();
            let shift = shifts.iter().find(|x| x.start == start).unwrap();
            let need = roster.plan.positions[i].needs[level];
            prop_assert!(n <= roster.slot(i, shift, need).0.uncovered);
        }
        for (i, person) in roster.people.iter().enumerate() {
            let mut all = roster.shifts_of(i, None);
            all.extend(s.proposals.iter().filter(|p| p.person == person.id).map(|p| [p.start, p.end]));
            prop_assert_eq!(roster.rules.check(&all), vec![]);
        }
    }
}

#[test]
fn suggestions_spread_the_work_and_fill_what_can_be_filled() {
    let mut rng = Rng::new(7);
    let (plan, people) = instance(
        &mut || rng.next_u64(),
        &Size { people: 120, directorates: 4, positions: 20, skills: 3 },
        &["STA".into()],
    );
    let shifts = plan.pattern().unwrap().shifts(date(2027, 1, 4), date(2027, 1, 17));
    let roster = Roster::new(plan, people, Vec::new(), Vec::new(), Vec::new(), 1).unwrap();
    let s = roster.suggest(2, &shifts, 0);
    assert!(s.open > 500, "{}", s.open);
    assert!(s.proposals.len() * 100 >= s.open * 95, "{} of {}", s.proposals.len(), s.open);
    // Fairness: nobody works much more than the average.
    let mut hours: HashMap<&str, i64> = HashMap::new();
    for p in &s.proposals {
        *hours.entry(p.person.as_str()).or_default() += (p.end - p.start) / HOUR_MS;
    }
    let max = hours.values().max().copied().unwrap_or(0);
    let mean = hours.values().sum::<i64>() / hours.len() as i64;
    assert!(max <= mean + 24 && max <= 96, "max {max} h, mean {mean} h");
}

#[test]
fn an_icalendar_file_folds_and_escapes() {
    let mut p = position("pn", "DGPN", [1, 1, 1, 1], None);
    p.title = "Poste de liaison, police; nationale — très long intitulé qui dépasse la largeur d'une ligne".into();
    let plan = Plan { positions: vec![p], ..Plan::default() };
    let shifts = week(&plan);
    let roster = Roster::new(
        plan,
        vec![person("a", "DGPN", &[])],
        Vec::new(),
        vec![assign(9, "a", "pn", &shifts[2], Status::Proposed), assign(10, "a", "pn", &shifts[5], Status::Declined)],
        Vec::new(),
        1,
    )
    .unwrap();
    let ics = roster.ics(0, "national", 0, &|p| p.venue.clone().unwrap_or_else(|| "Salle".into()));
    assert!(ics.contains("LOCATION:Salle\r\n"));
    assert!(ics.lines().all(|l| l.len() <= 76), "{ics}");
    assert!(ics.contains("\r\n "), "folded");
    assert!(ics.contains("police\\; nationale"), "escaped");
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1, "the declined one is left out");
    assert!(ics.contains("DTSTART:20270104T210000Z\r\n"), "the night of the 4th, 22:00 Paris");
    assert!(ics.contains("STATUS:TENTATIVE"));
    let csv = roster.roster_csv(Some("DGPN"), &shifts, true).unwrap();
    assert_eq!(csv.lines().count(), 2);
    assert!(csv.contains("2027-01-04T22:00,2027-01-05T06:00"), "{csv}");
}
