//! Line breaking: greedy, at spaces, and inside a word only when the word alone is wider than
//! the line. Pure (the width of a string is a closure) so it is tested without fonts.

/// Wraps `text` to lines no wider than `max_w`: every '\n' starts a new line (an empty line
/// stays an empty line), runs of spaces and tabs are one break opportunity, and a word wider
/// than a line is cut between characters (never before a combining mark). No-break spaces
/// (U+00A0, U+202F, French punctuation) do not break.
pub(crate) fn wrap(text: &str, max_w: f32, width: &mut impl FnMut(&str) -> f32) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.split('\n') {
        wrap_line(line.strip_suffix('\r').unwrap_or(line), max_w, width, &mut out);
    }
    out
}

fn wrap_line(line: &str, max_w: f32, width: &mut impl FnMut(&str) -> f32, out: &mut Vec<String>) {
    let first = out.len();
    let space_w = width(" ");
    let mut cur = String::new();
    let mut cur_w = 0.0;
    for word in line.split([' ', '\t']).filter(|w| !w.is_empty()) {
        let word_w = width(word);
        if !cur.is_empty() {
            if cur_w + space_w + word_w <= max_w {
                cur.push(' ');
                cur.push_str(word);
                cur_w += space_w + word_w;
                continue;
            }
            out.push(std::mem::take(&mut cur));
        }
        let mut rest = word;
        let mut rest_w = word_w;
        while rest_w > max_w {
            let cut = fit(rest, max_w, width);
            if cut == rest.len() {
                break;
            }
            out.push(rest[..cut].to_owned());
            rest = &rest[cut..];
            rest_w = width(rest);
        }
        cur.push_str(rest);
        cur_w = rest_w;
    }
    if !cur.is_empty() || out.len() == first {
        out.push(cur);
    }
}

/// The longest prefix of `word` (in bytes, at a character boundary that is not before a
/// combining mark) no wider than `max_w`; at least the first character with its marks.
fn fit(word: &str, max_w: f32, width: &mut impl FnMut(&str) -> f32) -> usize {
    let cuts: Vec<usize> = word
        .char_indices()
        .filter(|&(i, c)| i > 0 && !is_mark(c))
        .map(|(i, _)| i)
        .chain(std::iter::once(word.len()))
        .collect();
    // Widths grow with the prefix: the first cut too wide ends the search.
    let fitting = cuts.partition_point(|&cut| width(&word[..cut]) <= max_w);
    cuts[fitting.saturating_sub(1)]
}

/// Characters that attach to the previous one (combining marks, joiners, variation selectors).
fn is_mark(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{200D}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

#[cfg(test)]
mod tests {
    use super::wrap;

    /// One unit per character: a monospace font.
    fn mono(s: &str) -> f32 {
        s.chars().count() as f32
    }

    fn lines(text: &str, max: f32) -> Vec<String> {
        wrap(text, max, &mut mono)
    }

    #[test]
    fn breaks_at_spaces() {
        assert_eq!(lines("the quick brown fox", 10.0), ["the quick", "brown fox"]);
        assert_eq!(lines("the quick brown fox", 9.0), ["the quick", "brown fox"]);
        assert_eq!(lines("the quick brown fox", 8.0), ["the", "quick", "brown", "fox"]);
        assert_eq!(lines("the quick brown fox", 100.0), ["the quick brown fox"]);
    }

    #[test]
    fn spaces_collapse_and_newlines_break() {
        assert_eq!(lines("  a   b\tc  ", 10.0), ["a b c"]);
        assert_eq!(lines("a\nb", 10.0), ["a", "b"]);
        assert_eq!(lines("a\r\n\nb", 10.0), ["a", "", "b"]);
        assert_eq!(lines("", 10.0), [""]);
    }

    #[test]
    fn long_words_are_cut_by_characters() {
        assert_eq!(lines("abcdefghijklm", 5.0), ["abcde", "fghij", "klm"]);
        assert_eq!(lines("ab abcdefgh", 5.0), ["ab", "abcde", "fgh"]);
        // The end of a cut word starts the next line's text.
        assert_eq!(lines("abcdefg ij", 5.0), ["abcde", "fg ij"]);
        assert_eq!(lines("abcdefghij", 5.0), ["abcde", "fghij"]);
        // Even a line narrower than a character gets one character a line.
        assert_eq!(lines("abc", 0.5), ["a", "b", "c"]);
    }

    #[test]
    fn cuts_keep_combining_marks_with_their_letter() {
        // "é" as e + U+0301: two characters, one letter.
        let e = "e\u{301}";
        let word = e.repeat(3);
        assert_eq!(lines(&word, 2.0), [e, e, e]);
        assert_eq!(lines(&word, 3.0), [e, e, e]);
        assert_eq!(lines(&word, 4.0), [e.repeat(2), e.to_owned()]);
    }

    #[test]
    fn no_break_spaces_hold() {
        let text = "«\u{a0}Alerte\u{a0}» 12\u{202f}000 €";
        assert_eq!(lines(text, 10.0), ["«\u{a0}Alerte\u{a0}»", "12\u{202f}000 €"]);
    }

    #[test]
    fn lines_never_exceed_the_width_unless_one_character_does() {
        let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
                    incididunt ut labore et dolore magna aliqua anticonstitutionnellement";
        for max in 1..40 {
            let max = max as f32;
            let got = lines(text, max);
            for line in &got {
                assert!(mono(line) <= max.max(1.0), "{line:?} wider than {max}");
            }
            let words: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(got.concat().replace(' ', ""), words.concat(), "no text lost at {max}");
        }
    }
}
