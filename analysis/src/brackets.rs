//! The brackets of text from outside, matched before a parser sees it.
//!
//! The parsers of conditions (expr-lang) and of web metrics' `jsonPath`
//! (jsonpath-rust) backtrack: over an unclosed bracket, and over some
//! nestings of closed ones, their time doubles with each level. The text
//! is therefore read once first, with the same quoting rules as the parser
//! that follows, and refused when its brackets do not match or nest too
//! deep.

/// The brackets of a text outside its quoted strings, as they are read
/// one character at a time.
///
/// ```
/// use rollgate_analysis::brackets::Brackets;
///
/// let mut brackets = Brackets::new(&['"', '\'']);
/// for c in "a[(b)] == ']'".chars() {
///     brackets.read(c);
/// }
/// assert_eq!(brackets.finish(), Ok(2));
///
/// let mut unclosed = Brackets::new(&['"']);
/// "f([1]".chars().for_each(|c| unclosed.read(c));
/// assert_eq!(unclosed.finish().unwrap_err(), "a '(' that is not closed");
/// ```
#[derive(Debug, Clone)]
pub struct Brackets<'q> {
    quotes: &'q [char],
    open: Vec<char>,
    quote: Option<char>,
    escaped: bool,
    deepest: usize,
    problem: Option<String>,
}

impl<'q> Brackets<'q> {
    /// A scan of text whose strings are quoted by any of `quotes`, with
    /// `\` escaping the next character inside a string.
    pub fn new(quotes: &'q [char]) -> Self {
        Self {
            quotes,
            open: Vec::new(),
            quote: None,
            escaped: false,
            deepest: 0,
            problem: None,
        }
    }

    /// Whether the character last read was inside a quoted string
    /// (its quotes included).
    pub fn in_string(&self) -> bool {
        self.quote.is_some()
    }

    /// How many brackets are open after the characters read.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// Reads the next character of the text.
    pub fn read(&mut self, c: char) {
        if let Some(q) = self.quote {
            match c {
                _ if self.escaped => self.escaped = false,
                '\\' => self.escaped = true,
                _ if c == q => self.quote = None,
                _ => {}
            }
            return;
        }
        match c {
            _ if self.quotes.contains(&c) => self.quote = Some(c),
            '(' | '[' | '{' => {
                self.open.push(c);
                self.deepest = self.deepest.max(self.open.len());
            }
            ')' | ']' | '}' => {
                let opening = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if self.open.pop() != Some(opening) && self.problem.is_none() {
                    self.problem = Some(format!("a '{c}' that closes nothing open"));
                }
            }
            _ => {}
        }
    }

    /// The deepest nesting of `(`, `[` and `{` together, or the first
    /// problem: a closing bracket without its opening one, a bracket or
    /// string not closed. The problem completes "the text has ...".
    pub fn finish(self) -> Result<usize, String> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        match (self.quote, self.open.last()) {
            (Some(q), _) => Err(format!("a string opened with {q} that is not closed")),
            (None, Some(c)) => Err(format!("a '{c}' that is not closed")),
            (None, None) => Ok(self.deepest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nesting(text: &str, quotes: &[char]) -> Result<usize, String> {
        let mut brackets = Brackets::new(quotes);
        text.chars().for_each(|c| brackets.read(c));
        brackets.finish()
    }

    #[test]
    fn brackets_inside_strings_are_text() {
        assert_eq!(nesting("a == '(['", &['\'']), Ok(0));
        assert_eq!(nesting(r#"a == "\"(""#, &['"']), Ok(0));
        assert_eq!(nesting("a == `(`", &['`']), Ok(0));
        // Not a quote here: the bracket counts.
        assert!(nesting("a == `(`", &['"']).is_err());
    }

    #[test]
    fn the_first_problem_is_named() {
        assert_eq!(
            nesting("a)(", &[]),
            Err("a ')' that closes nothing open".into())
        );
        assert_eq!(
            nesting("[a)", &[]),
            Err("a ')' that closes nothing open".into())
        );
        assert_eq!(nesting("{[a]", &[]), Err("a '{' that is not closed".into()));
        assert_eq!(
            nesting("a == 'b", &['\'']),
            Err("a string opened with ' that is not closed".into())
        );
    }

    #[test]
    fn the_deepest_nesting_of_all_kinds_together() {
        assert_eq!(nesting("a[b[(c[{d: 1}])]] + e[f]", &[]), Ok(5));
        assert_eq!(nesting("a", &[]), Ok(0));
    }
}
