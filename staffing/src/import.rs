//! The CSV roster of people: a header naming the columns (`id`, `name`, `directorate`
//! required; `skills` separated by `;`, `phone`, `email`), one person per row, UTF-8 (a BOM is
//! allowed), `,` or `;` as separator. Every bad row is named by line and field, and nothing is
//! taken from a file with one.

use crate::roster::Person;
use serde::Serialize;
use std::collections::HashMap;

/// Most rows of a roster file.
pub const MAX_ROWS: usize = 20_000;
/// Most errors reported (the rest are counted).
pub const MAX_ERRORS: usize = 200;

/// A problem in a roster file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line in the file, from 1 (the header is line 1).
    pub line: u64,
    /// The column (empty: the row or the file).
    pub field: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

const COLUMNS: [&str; 6] = ["id", "name", "directorate", "skills", "phone", "email"];

/// The people of a roster file, or every problem in it.
///
/// # Errors
/// Every bad row (at most [`MAX_ERRORS`], then one saying how many more).
pub fn people_csv(text: &str) -> Result<Vec<Person>, Vec<RowError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    let separator = if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(separator).flexible(true).from_reader(text.as_bytes());
    let fail = |line: u64, field: &str, reason: String| RowError { line, field: field.into(), reason };
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_lowercase()).collect(),
        Err(e) => return Err(vec![fail(1, "", format!("unreadable header: {e}"))]),
    };
    let mut errors = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        match COLUMNS.iter().find(|c| *c == h) {
            Some(c) if at.insert(c, i).is_some() => errors.push(fail(1, h, "this column appears twice".into())),
            Some(_) => {}
            None => errors.push(fail(1, h, format!("unknown column; the columns are {}", COLUMNS.join(", ")))),
        }
    }
    for c in &COLUMNS[..3] {
        if !at.contains_key(c) {
            errors.push(fail(1, c, "required column missing".into()));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut people = Vec::new();
    let mut lines: HashMap<String, u64> = HashMap::new();
    let mut more = 0usize;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                errors.push(fail(line, "", format!("unreadable row: {e}")));
                break;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        if people.len() >= MAX_ROWS {
            errors.push(fail(line, "", format!("at most {MAX_ROWS} people per file")));
            break;
        }
        if record.len() != headers.len() {
            errors.push(fail(line, "", format!("{} fields, the header has {}", record.len(), headers.len())));
            continue;
        }
        let get = |c: &str| at.get(c).and_then(|&i| record.get(i)).unwrap_or("").trim().to_owned();
        let person = Person {
            id: get("id"),
            name: get("name"),
            directorate: get("directorate"),
            skills: get("skills").split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            phone: get("phone"),
            email: get("email"),
        };
        let mut row: Vec<RowError> = person.problems("").into_iter().map(|p| fail(line, &p.field, p.reason)).collect();
        if let Some(first) = lines.insert(person.id.clone(), line).filter(|_| !person.id.is_empty()) {
            row.push(fail(line, "id", format!("'{}' is already on line {first}", person.id)));
        }
        for e in row {
            if errors.len() < MAX_ERRORS {
                errors.push(e);
            } else {
                more += 1;
            }
        }
        people.push(person);
    }
    if more > 0 {
        errors.push(fail(0, "", format!("{more} more problems not listed")));
    }
    if errors.is_empty() { Ok(people) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_roster_reads_with_its_skills() {
        let people = people_csv(
            "\u{feff}id;name;directorate;skills;phone;email\nA1;Anne Martin;DGPN;\"radio; pc \";01 02;anne@interieur.gouv.fr\nB2;Bruno Petit;DGGN;;;\n",
        )
        .unwrap();
        assert_eq!(people.len(), 2);
        assert_eq!(people[0].skills, vec!["radio", "pc"]);
        assert_eq!(people[1].directorate, "DGGN");
    }

    #[test]
    fn every_bad_row_is_named_by_line_and_field() {
        let errors = people_csv(
            "id,name,directorate,email\nA1,Anne,DGPN,anne@x.fr\nbad id,Bruno,DGGN,\nA1,Claire,,claire\nD4,Denis\n",
        )
        .unwrap_err();
        let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(got, vec![(3, "id"), (4, "directorate"), (4, "email"), (4, "id"), (5, "")], "{errors:?}");
        assert!(errors[3].reason.contains("line 2"), "{}", errors[3].reason);
        let header = people_csv("id,nom,directorate\n").unwrap_err();
        assert_eq!((header[0].line, header[0].field.as_str()), (1, "nom"));
        assert!(header.iter().any(|e| e.field == "name"), "required column missing");
    }
}
