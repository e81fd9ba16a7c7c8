//! A random staffing instance of any size: directorates, positions spread over given places
//! (and the crisis room), people with skills. The demo workspace's plan, the benchmarks'
//! 1,300 officers and the tests' instances come from here, each drawing from its own seeded
//! generator (`vigie_layers::demo::Rng`: the same numbers for the same seed).

use crate::plan::{Place, Plan, Position};
use crate::roster::Person;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Size {
    /// People.
    pub people: usize,
    /// Directorates.
    pub directorates: usize,
    /// Positions.
    pub positions: usize,
    /// Skills in use.
    pub skills: usize,
}

const DIRECTORATES: [&str; 12] =
    ["DGPN", "DGGN", "DGSCGC", "PP", "SNCF", "RATP", "ARS", "SAMU", "DGA", "ANSSI", "COJOP", "METEO"];
const SKILLS: [&str; 6] = ["radio", "anglais", "secourisme", "sig", "cyber", "conduite"];

/// The name of directorate `i`.
pub fn directorate(i: usize) -> String {
    match DIRECTORATES.get(i) {
        Some(d) => (*d).to_owned(),
        None => format!("DIR{:02}", i + 1),
    }
}

fn skill(i: usize) -> String {
    match SKILLS.get(i) {
        Some(s) => (*s).to_owned(),
        None => format!("skill{i}"),
    }
}

/// A plan with `size.positions` positions (needs growing with the level: about a third open
/// at the lowest level, all at the highest) at `places` (venue codes; every fifth position
/// in the crisis room), and `size.people` people spread over the directorates, drawing
/// random numbers from `next`.
pub fn instance(next: &mut dyn FnMut() -> u64, size: &Size, places: &[String]) -> (Plan, Vec<Person>) {
    let mut below = |n: usize| (next() % n as u64) as usize;
    let mut plan = Plan::default();
    let levels = plan.levels.len();
    for i in 0..size.positions {
        let d = i % size.directorates.max(1);
        let place = if i % 5 == 0 || places.is_empty() {
            Place::default()
        } else {
            Place { venue: Some(places[below(places.len())].clone()), ..Place::default() }
        };
        let base = u32::from(below(3) == 0);
        let needs: Vec<u32> = (0..levels).map(|l| base + (l as u32).div_ceil(2) + u32::from(l == levels - 1)).collect();
        let skills = if size.skills > 0 && below(4) == 0 { vec![skill(below(size.skills))] } else { Vec::new() };
        plan.positions.push(Position {
            id: format!("p{:04}", i + 1),
            title: format!("Liaison {} {}", directorate(d), i + 1),
            directorate: directorate(d),
            place,
            skills,
            needs,
        });
    }
    let people = (0..size.people)
        .map(|i| {
            let d = i % size.directorates.max(1);
            let mut skills: Vec<String> = (0..size.skills).filter(|_| below(2) == 0).map(skill).collect();
            skills.sort();
            Person {
                id: format!("o{:05}", i + 1),
                name: format!("Officier {} {}", directorate(d), i + 1),
                directorate: directorate(d),
                skills,
                phone: format!("+33 1 00 00 {:02} {:02}", (i / 100) % 100, i % 100),
                email: format!("o{:05}@exemple.gouv.fr", i + 1),
            }
        })
        .collect();
    (plan, people)
}
