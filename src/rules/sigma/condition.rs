//! Sigma's `condition` expressions: `and`, `or`, `not`, parentheses, `1 of x*`,
//! `all of x*`, `1 of them`, `all of them`. Precedence: `not` binds tightest, then `and`,
//! then `or`; `x*` is a wildcard over search identifiers, `them` every identifier not
//! starting with `_`.

/// A parsed condition, over search identifiers.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Ident(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Why a condition could not be read, and the character offset in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn tokens(text: &str) -> Vec<(usize, Tok)> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '(' => {
                out.push((i, Tok::Open));
                chars.next();
            }
            ')' => {
                out.push((i, Tok::Close));
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            _ => {
                let mut w = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push((i, Tok::Word(w)));
            }
        }
    }
    out
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    at: usize,
    idents: &'a [String],
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.at).map_or(self.end, |(o, _)| *o)
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, Error> {
        Err(Error {
            offset: self.offset(),
            message: message.into(),
        })
    }

    fn or(&mut self) -> Result<Expr, Error> {
        let mut parts = vec![self.and()?];
        while self.word("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, Error> {
        let mut parts = vec![self.not()?];
        while self.word("and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, Error> {
        if self.word("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, Error> {
        match self.peek().cloned() {
            Some(Tok::Open) => {
                self.at += 1;
                let e = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return self.err("missing ')'");
                }
                self.at += 1;
                Ok(e)
            }
            Some(Tok::Close) => self.err("unexpected ')'"),
            None => self.err("the condition ends where a search identifier is expected"),
            Some(Tok::Word(w)) => {
                let lower = w.to_ascii_lowercase();
                if matches!(lower.as_str(), "and" | "or") {
                    return self.err(format!("'{w}' where a search identifier is expected"));
                }
                if lower == "|" || w.starts_with('|') {
                    return self.err(
                        "aggregations after '|' (count, near) are not supported: write a correlation rule",
                    );
                }
                self.at += 1;
                if matches!(lower.as_str(), "1" | "any" | "all") && self.word("of") {
                    self.at += 1;
                    let at = self.offset();
                    let Some(Tok::Word(pattern)) = self.peek().cloned() else {
                        return self
                            .err("'of' must be followed by a search identifier pattern or 'them'");
                    };
                    self.at += 1;
                    let names = self.matching(&pattern);
                    if names.is_empty() {
                        return Err(Error {
                            offset: at,
                            message: format!("no search identifier matches '{pattern}'"),
                        });
                    }
                    let parts = names.into_iter().map(Expr::Ident).collect();
                    return Ok(if lower == "all" {
                        Expr::And(parts)
                    } else {
                        Expr::Or(parts)
                    });
                }
                if !self.idents.contains(&w) {
                    return Err(Error {
                        offset: self.toks[self.at - 1].0,
                        message: format!(
                            "unknown search identifier '{w}'{}",
                            crate::rules::diag::did_you_mean(
                                &w,
                                self.idents.iter().map(String::as_str)
                            )
                        ),
                    });
                }
                Ok(Expr::Ident(w))
            }
        }
    }

    /// Identifiers a `1 of` / `all of` pattern names.
    fn matching(&self, pattern: &str) -> Vec<String> {
        if pattern == "them" {
            return self
                .idents
                .iter()
                .filter(|i| !i.starts_with('_'))
                .cloned()
                .collect();
        }
        let re = regex::Regex::new(&crate::rules::cond::glob_to_regex(pattern));
        self.idents
            .iter()
            .filter(|i| re.as_ref().is_ok_and(|re| re.is_match(i)))
            .cloned()
            .collect()
    }
}

/// Parses `text` over the search identifiers `idents`.
pub fn parse(text: &str, idents: &[String]) -> Result<Expr, Error> {
    let mut p = Parser {
        toks: tokens(text),
        at: 0,
        idents,
        end: text.len(),
    };
    let e = p.or()?;
    if p.at < p.toks.len() {
        if matches!(p.peek(), Some(Tok::Word(w)) if w.starts_with('|')) {
            return p.err(
                "aggregations after '|' (count, near) are not supported: write a correlation rule",
            );
        }
        return p.err("unexpected text after the condition");
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_quantifiers_and_them() {
        let names = ids(&["selection", "filter_a", "filter_b", "_hidden"]);
        let e = parse("selection and not 1 of filter_* or _hidden", &names).unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::And(vec![
                    Expr::Ident("selection".into()),
                    Expr::Not(Box::new(Expr::Or(vec![
                        Expr::Ident("filter_a".into()),
                        Expr::Ident("filter_b".into())
                    ])))
                ]),
                Expr::Ident("_hidden".into())
            ])
        );
        assert_eq!(
            parse("all of them", &names).unwrap(),
            Expr::And(vec![
                Expr::Ident("selection".into()),
                Expr::Ident("filter_a".into()),
                Expr::Ident("filter_b".into())
            ])
        );
        assert_eq!(
            parse("not (selection or filter_a)", &names).unwrap(),
            Expr::Not(Box::new(Expr::Or(vec![
                Expr::Ident("selection".into()),
                Expr::Ident("filter_a".into())
            ])))
        );
    }

    #[test]
    fn mistakes_say_where() {
        let names = ids(&["selection"]);
        let e = parse("selction", &names).unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (
                0,
                "unknown search identifier 'selction' (did you mean 'selection'?)"
            )
        );
        assert_eq!(parse("selection and", &names).unwrap_err().offset, 13);
        assert_eq!(
            parse("(selection", &names).unwrap_err().message,
            "missing ')'"
        );
        assert!(parse("selection | count() > 5", &names)
            .unwrap_err()
            .message
            .contains("correlation"));
        assert_eq!(
            parse("1 of filter*", &names).unwrap_err().message,
            "no search identifier matches 'filter*'"
        );
        for pipe in ["not |count() > 5", "not | count() > 5"] {
            assert!(
                parse(pipe, &names)
                    .unwrap_err()
                    .message
                    .starts_with("aggregations after '|'"),
                "{pipe}"
            );
        }
    }

    #[test]
    fn quantifier_words_alone_are_identifiers() {
        for name in ["all", "any", "1"] {
            assert_eq!(
                parse(name, &ids(&[name])).unwrap(),
                Expr::Ident(name.into())
            );
        }
    }
}
