//! Bracket nesting of the raw document, measured lexically before parsing: the parser
//! recurses per level, so a 64 KB body of `{a{a{a…` must be refused before it gets there.

/// Fails when `{`, `[` or `(` nest deeper than `max` outside strings and comments.
pub fn check(query: &str, max: usize) -> Result<(), String> {
    let mut depth = 0usize;
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            '"' => skip_string(&mut chars),
            '{' | '[' | '(' => {
                depth += 1;
                if depth > max {
                    return Err(format!("the query nests deeper than {max} levels"));
                }
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Skips a `"…"` or `"""…"""` string (the opening quote is consumed).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let block = chars.peek() == Some(&'"') && {
        let mut look = chars.clone();
        look.next();
        look.peek() == Some(&'"')
    };
    if block {
        chars.next();
        chars.next();
        let mut quotes = 0;
        for c in chars.by_ref() {
            quotes = if c == '"' { quotes + 1 } else { 0 };
            if quotes == 3 {
                return;
            }
        }
        return;
    }
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' | '\n' => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn counts_brackets_outside_strings_and_comments() {
        assert!(check("{ a { b(x: [1, {c: 2}]) } }", 5).is_ok());
        assert!(check("{ a { b(x: [1, {c: 2}]) } }", 4).is_err());
        assert!(check(r#"{ a(s: "{{{{{{{{") }"#, 3).is_ok());
        assert!(check("{ a # {{{{{{{{\n }", 2).is_ok());
        assert!(check(r#"{ a(s: """ {{{{{ "" """) }"#, 3).is_ok());
        assert!(check(r#"{ a(s: "\"{{{{") }"#, 3).is_ok());
        let deep = format!("{}{}", "{a".repeat(500), "}".repeat(500));
        assert!(check(&deep, 64).is_err());
    }
}
