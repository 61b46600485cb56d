//! A metric's `successCondition` and `failureCondition`, in Argo's
//! expression language (expr), and the phase of one measured value.
//!
//! Conditions see the measured value as `result` and the helpers Argo's
//! conditions use: `asInt`, `asFloat`, `isNaN`, `isInf`, `isNil` and
//! `default`. They are compiled once per metric ([`Conditions::of`]), when
//! first evaluated in this process, and evaluated for every measurement
//! ([`Conditions::assess`]).
//!
//! Argo's rules (`utils/evaluate/evaluate.go`, `EvaluateResult`):
//! - neither condition: every value is `Successful`;
//! - only `successCondition`: `Failed` when it is false;
//! - only `failureCondition`: `Successful` when it is false;
//! - both: `Failed` when the failure condition holds, `Successful` when only
//!   the success condition holds, `Inconclusive` when neither holds;
//! - a condition that does not compile or run, or that is not a boolean,
//!   makes the measurement an `Error`.
//!
//! Where Rollgate differs: the message of a condition that yields something
//! other than a boolean names the kind of value in words ("a number")
//! where Argo prints a Go type name.

use std::sync::{LazyLock, OnceLock};

use expr::{Context, ContextProvider, Environment, Program, Value};
use rollout_core::AnalysisPhase;

use crate::brackets::Brackets;
use crate::types::Metric;

/// Functions of Argo's condition environment, shared by every evaluation.
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = bounded_environment();
    env.add_function("asInt", |c| one_arg(&c.args, "asInt").and_then(as_int));
    env.add_function("asFloat", |c| {
        one_arg(&c.args, "asFloat").and_then(as_float)
    });
    env.add_function("isNaN", |c| {
        let v = one_arg(&c.args, "isNaN")?;
        Ok(Value::Bool(number(v, "isNaN")?.is_nan()))
    });
    env.add_function("isInf", |c| {
        let v = one_arg(&c.args, "isInf")?;
        Ok(Value::Bool(number(v, "isInf")?.is_infinite()))
    });
    // As in Argo, `isNil` and `default` look at the measured value whatever
    // their first argument is.
    env.add_function("isNil", |c| Ok(Value::Bool(result_is_nil(c.ctx))));
    env.add_function("default", |c| {
        if c.args.len() != 2 {
            return Err(expr::Error::ExprError(
                "default() takes the result and a default value".into(),
            ));
        }
        Ok(if result_is_nil(c.ctx) {
            c.args[1].clone()
        } else {
            c.ctx.get("result").cloned().unwrap_or_default()
        })
    });
    env
});

/// The expression language's own functions, with `repeat()` building at
/// most [`MAX_REPEAT_BYTES`]: the environment every expression from
/// outside is evaluated in (conditions add Argo's functions to it, a
/// Prometheus range query's times add `now()`).
///
/// ```
/// let env = rollgate_analysis::condition::bounded_environment();
/// let context = expr::Context::default();
/// assert_eq!(env.eval("len(repeat('ab', 3))", &context).unwrap(), expr::Value::Integer(6));
/// assert!(env.eval("repeat('ab', 1000000)", &context).is_err());
/// ```
pub fn bounded_environment() -> Environment<'static> {
    let mut env = Environment::new();
    // expr-lang bounds `repeat`'s count (1,000,000) but not the text it
    // builds (a 4 KiB string a million times is 4 GB): the result is
    // bounded as Argo's memory budget bounds it.
    env.add_function("repeat", |c| {
        let (Some(Value::String(s)), Some(Value::Integer(count)), 2) =
            (c.args.first(), c.args.get(1), c.args.len())
        else {
            return Err(expr::Error::ExprError(
                "repeat() takes a string and an integer".into(),
            ));
        };
        let count = usize::try_from(*count)
            .map_err(|_| expr::Error::ExprError("repeat() count cannot be negative".into()))?;
        match s.len().checked_mul(count) {
            Some(bytes) if bytes <= MAX_REPEAT_BYTES => Ok(Value::String(s.repeat(count))),
            _ => Err(expr::Error::ExprError(format!(
                "repeat() would build more than {MAX_REPEAT_BYTES} bytes"
            ))),
        }
    });
    env
}

/// The longest text `repeat()` builds in a condition: 1 MiB (Argo's
/// expression language counts it against a memory budget of 1,000,000).
pub const MAX_REPEAT_BYTES: usize = 1 << 20;

/// Whether the measured value is nil or an empty list (Go's nil slice).
fn result_is_nil(ctx: &dyn ContextProvider) -> bool {
    match ctx.get("result") {
        None | Some(Value::Nil) => true,
        Some(_) => false,
    }
}

fn one_arg<'v>(args: &'v [Value], name: &str) -> expr::Result<&'v Value> {
    match args {
        [v] => Ok(v),
        _ => Err(expr::Error::ExprError(format!(
            "{name}() takes one argument, {} given",
            args.len()
        ))),
    }
}

fn number(v: &Value, name: &str) -> expr::Result<f64> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        other => Err(expr::Error::ExprError(format!(
            "{name}() expects a number, got {}",
            describe(other)
        ))),
    }
}

/// Argo's `asInt`: a number truncated towards zero, or a string holding a
/// whole number.
fn as_int(v: &Value) -> expr::Result<Value> {
    match v {
        Value::Integer(i) => Ok(Value::Integer(*i)),
        // Go's int64(float64) truncates; NaN and out-of-range values
        // saturate here where Go's result is unspecified.
        Value::Float(f) => Ok(Value::Integer(*f as i64)),
        Value::String(s) => s
            .parse()
            .map(Value::Integer)
            .map_err(|_| expr::Error::ExprError(format!("asInt(): \"{s}\" is not a whole number"))),
        other => Err(expr::Error::ExprError(format!(
            "asInt() not supported on {}",
            describe(other)
        ))),
    }
}

/// Argo's `asFloat`: a number, or a string holding one.
fn as_float(v: &Value) -> expr::Result<Value> {
    match v {
        Value::Integer(i) => Ok(Value::Float(*i as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Value::Float)
            .map_err(|_| expr::Error::ExprError(format!("asFloat(): \"{s}\" is not a number"))),
        other => Err(expr::Error::ExprError(format!(
            "asFloat() not supported on {}",
            describe(other)
        ))),
    }
}

/// The kind of an expression value, in words.
fn describe(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Float(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Nil => "nil",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Map(_) | Value::KeyedMap(_) => "a map",
        _ => "a value of another kind",
    }
}

/// The context of one evaluation: `result` and nothing else, borrowed.
struct ResultScope<'v>(&'v Value);

impl ContextProvider for ResultScope<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        (key == "result").then_some(self.0)
    }

    fn to_context(&self) -> Context {
        let mut ctx = Context::default();
        ctx.insert("result", self.0.clone());
        ctx
    }
}

/// Which of the two conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    /// `successCondition`.
    Success,
    /// `failureCondition`.
    Failure,
}

impl ConditionKind {
    /// The field's name, as in the metric.
    pub fn field(self) -> &'static str {
        match self {
            Self::Success => "successCondition",
            Self::Failure => "failureCondition",
        }
    }
}

/// The longest condition compiled, in bytes: 4 KiB. Argo sets no limit on
/// the text; a condition is a line or two of a template, and the limit
/// bounds what parsing one costs and the size of the message that quotes
/// it.
pub const MAX_CONDITION_BYTES: usize = 4096;

/// The most operators and brackets a condition may hold: 100. The
/// expression's tree is parsed and evaluated recursively, one level per
/// operator or bracket at worst, so this bounds the stack an evaluation
/// needs (a chain of a few hundred `+` overflows a thread's 2 MiB in a
/// debug build). Argo sets no such limit (Go's stacks grow); Argo's
/// documented conditions use fewer than ten.
///
/// Counted outside string literals: each of `+ - * / % < > = ! & | ? : ^ ~`
/// (so `==` counts two), each `(`, `[` and `{`, each `..`, and the words
/// `not`, `and`, `or`, `in`, `matches`, `contains`, `startsWith` and
/// `endsWith`; member access (`result.a.b`) does not count.
pub const MAX_CONDITION_OPERATORS: usize = 100;

/// The most ternary `?`, `if` and nested `[` a condition may hold
/// together: 6. The expression parser tries a ternary before the other
/// operators that start with `?`, an `if` expression before the name `if`,
/// and a slice before an index, reading what follows again when the first
/// reading fails: its time doubles with each ternary, each `if` and each
/// level of `[` (14 of them took 3 s, 30 conditions found by the
/// `condition` fuzz target over 30 s; `1 + if + ` sixteen times, 3.7 s).
/// `result[0] >= 0.95` holds one; Argo's documented conditions hold no
/// more than two.
pub const MAX_CONDITION_BRANCHES: usize = 6;

/// The most times the parser may read a stretch of a condition that mixes
/// ternary `?` and `??` again: 1,024. A `??` after a ternary gives the
/// parser one more place to end the ternary's first branch and read the
/// rest again, so its time grows as (`??` per ternary + 1) to the power
/// of the ternaries: six ternaries with four `??` each took 236 ms in a
/// release build (the `condition` fuzz target found mixes taking 19 s in
/// its own build); at the limit, 15 ms. Counted as that power, with the
/// `??` spread evenly over the ternaries (the worst case).
pub const MAX_CONDITION_REREADS: f64 = 1024.0;

/// How many times more each `if` makes the parser read a condition that
/// mixes ternaries and `??`, as [`MAX_CONDITION_REREADS`] counts: 16. The
/// parser first reads an `if` and everything after it as an `if`
/// expression, and again as the name `if` when that fails; one `if` made
/// such a mix 10 to 17 times slower (five ternaries after three `??` each:
/// 11.7 ms, with an `if` before them 200 ms), each further one about twice
/// as slow again. Counting 16 for each is on the safe side, deliberately:
/// a condition mixing ternaries and `??` holds at most two `if`s, even
/// `if`s that open well-formed `if` expressions (Argo's documented
/// conditions use none). An `if` without that mix costs no more than a
/// ternary ([`MAX_CONDITION_BRANCHES`]).
pub const REREADS_PER_IF: f64 = 16.0;

/// Whether a condition is within [`MAX_CONDITION_BYTES`],
/// [`MAX_CONDITION_OPERATORS`], [`MAX_CONDITION_BRANCHES`] and
/// [`MAX_CONDITION_REREADS`] (with [`REREADS_PER_IF`]), its brackets
/// and quotes matched, without a range (`1..3`), `let` or `reduce` (Argo's
/// expression language evaluates them within a memory budget, this one has
/// none, so they are refused: a deliberate difference); `Err` completes a sentence about it: "is 5000 bytes
/// long, more than the limit of 4096 bytes". Unmatched brackets are
/// refused before parsing because the parser backtracks over unclosed
/// ones, its time doubling with each (16 unclosed `[` took 14 s).
///
/// ```
/// use rollgate_analysis::condition::within_limits;
/// assert_eq!(within_limits("len(result) == 0 || result[0] >= 0.95"), Ok(()));
/// let chain = format!("{}1 > 0", "1 + ".repeat(200));
/// assert_eq!(within_limits(&chain).unwrap_err(),
///     "has 201 operators and brackets, more than the limit of 100");
/// assert_eq!(within_limits("result[0 >= 0.95").unwrap_err(), "has a '[' that is not closed");
/// assert_eq!(within_limits("result) > 1").unwrap_err(), "has a ')' that closes nothing open");
/// assert_eq!(within_limits("result == '(['"), Ok(()));
/// assert_eq!(within_limits("a[b[c[d[0]]]] ? a ?? b : c ? d : e ? f : g").unwrap_err(),
///     "has 7 ternary operators, `if`s and levels of '[', more than the limit of 6");
/// assert_eq!(within_limits("if a { 1 } else { if b { 2 } else { 3 } }"), Ok(()));
/// let mixed = "a ?? a ?? a ?? a ?? b ? ".repeat(6) + "c";
/// assert_eq!(within_limits(&mixed).unwrap_err(),
///     "has 6 ternary operators and 24 `??` together: the parser would read parts of \
///      it up to 15625 times, more than the limit of 1024");
/// assert_eq!(within_limits("result[0] ?? 0 > 1 ? result[0] ?? 0 : 1"), Ok(()));
/// ```
pub fn within_limits(text: &str) -> Result<(), String> {
    if text.len() > MAX_CONDITION_BYTES {
        return Err(format!(
            "is {} bytes long, more than the limit of {MAX_CONDITION_BYTES} bytes",
            text.len()
        ));
    }
    let scan = scan(text);
    if scan.operators > MAX_CONDITION_OPERATORS {
        return Err(format!(
            "has {} operators and brackets, more than the limit of {MAX_CONDITION_OPERATORS}",
            scan.operators
        ));
    }
    scan.brackets.map_err(|problem| format!("has {problem}"))?;
    if let Some(word) = scan.unbounded {
        return Err(format!(
            "uses `{word}`, which conditions do not evaluate: each step of it can double \
             what the one before built (`let a = a + a`), without a bound"
        ));
    }
    if scan.ranges > 0 {
        return Err(
            "has a range (`..`), which conditions do not evaluate: a range builds \
             every value in it at once (`0..9999999999` ran out of memory)"
                .to_owned(),
        );
    }
    if scan.ternaries > 0 && scan.coalescings > 0 {
        let ternaries = scan.ternaries as f64;
        // Capped so that the figure stays finite (16^64 is far past the limit).
        let exponent = i32::try_from(scan.conditionals.min(64)).unwrap_or(64);
        let rereads = (scan.coalescings as f64 / ternaries + 1.0).powf(ternaries)
            * REREADS_PER_IF.powi(exponent);
        if rereads > MAX_CONDITION_REREADS {
            let ifs = match scan.conditionals {
                0 => String::new(),
                1 => ", 1 `if`".to_owned(),
                n => format!(", {n} `if`s"),
            };
            return Err(format!(
                "has {} ternary operators{ifs} and {} `??` together: the parser would read \
                 parts of it up to {rereads:.0} times, more than the limit of \
                 {MAX_CONDITION_REREADS}",
                scan.ternaries, scan.coalescings
            ));
        }
    }
    let branches = scan.ternaries + scan.conditionals + scan.deepest_index;
    if branches > MAX_CONDITION_BRANCHES {
        return Err(format!(
            "has {branches} ternary operators, `if`s and levels of '[', more than the limit \
             of {MAX_CONDITION_BRANCHES}"
        ));
    }
    Ok(())
}

/// The words of the expression language that conditions do not evaluate:
/// `let` statements and `reduce`, whose steps can each double the value
/// of the one before (30 steps ran out of memory). Argo's expression
/// language evaluates them within a memory budget; expr-lang has none.
const UNBOUNDED: [&str; 2] = ["let", "reduce"];

/// What [`within_limits`] finds in a condition.
struct Scan<'t> {
    /// Operators and brackets, as [`MAX_CONDITION_OPERATORS`] counts them.
    operators: usize,
    /// Ternary `?`: those not part of `??` or `?.`.
    ternaries: usize,
    /// `??` operators.
    coalescings: usize,
    /// The keyword `if` (not a member: `result.if` is not counted).
    conditionals: usize,
    /// Range operators (`..`).
    ranges: usize,
    /// The first of [`UNBOUNDED`] used, if any.
    unbounded: Option<&'t str>,
    /// The deepest nesting of indexes (`a[b[0]]` is 2; the array
    /// `[[0]]` is 0).
    deepest_index: usize,
    /// How deep the brackets nest, or why they do not match.
    brackets: Result<usize, String>,
}

/// The operators, ternaries and brackets of a condition, outside string
/// literals (quoted by `"`, `'` or `` ` ``).
fn scan(text: &str) -> Scan<'_> {
    const WORDS: [&str; 8] = [
        "not",
        "and",
        "or",
        "in",
        "matches",
        "contains",
        "startsWith",
        "endsWith",
    ];
    let mut operators = 0;
    let mut ternaries = 0;
    let mut coalescings = 0;
    let mut conditionals = 0;
    let mut ranges = 0;
    let mut unbounded = None;
    let mut brackets = Brackets::new(&['"', '\'', '`']);
    // The depths at which the indexes now open were opened, and the last
    // character outside strings and spaces (a closing quote as '"').
    let mut indexes: Vec<usize> = Vec::new();
    let mut deepest_index = 0;
    let mut last: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let quoted = brackets.in_string();
        let depth = brackets.depth();
        brackets.read(c);
        if quoted || brackets.in_string() {
            if quoted && !brackets.in_string() {
                last = Some('"');
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let after = last.replace(c);
        match c {
            '[' if after.is_some_and(|a| a.is_alphanumeric() || "_$#)]}\".".contains(a)) => {
                operators += 1;
                indexes.push(brackets.depth());
                deepest_index = deepest_index.max(indexes.len());
            }
            ']' if indexes.last() == Some(&depth) => {
                indexes.pop();
            }
            '(' | '[' | '{' => operators += 1,
            '?' => {
                operators += 1;
                match chars.peek() {
                    Some((_, '?')) => {
                        chars.next();
                        brackets.read('?');
                        operators += 1;
                        coalescings += 1;
                    }
                    Some((_, '.')) => {}
                    _ => ternaries += 1,
                }
            }
            '+' | '-' | '*' | '/' | '%' | '<' | '>' | '=' | '!' | '&' | '|' | ':' | '^' | '~' => {
                operators += 1
            }
            '.' if chars.peek().is_some_and(|(_, d)| *d == '.') => {
                chars.next();
                brackets.read('.');
                operators += 1;
                ranges += 1;
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' || c == '#' => {
                let mut end = at + c.len_utf8();
                while let Some((i, d)) =
                    chars.next_if(|(_, d)| d.is_alphanumeric() || *d == '_' || *d == '$')
                {
                    brackets.read(d);
                    end = i + d.len_utf8();
                }
                let word = &text[at..end];
                if UNBOUNDED.contains(&word) && after != Some('.') && unbounded.is_none() {
                    unbounded = Some(word);
                }
                // The grammar's keyword: `if` not followed by an ASCII
                // letter, digit or `_` (so `if$x` and `ifé` begin with it).
                let keyword_if = word.strip_prefix("if").is_some_and(|rest| {
                    !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                });
                if keyword_if && after != Some('.') {
                    conditionals += 1;
                }
                if WORDS.contains(&word) {
                    operators += 1;
                    // `x in [1, 2]`: an array after the operator, not an index.
                    last = Some('+');
                }
            }
            _ => {}
        }
    }
    Scan {
        operators,
        ternaries,
        coalescings,
        conditionals,
        ranges,
        unbounded,
        deepest_index,
        brackets: brackets.finish(),
    }
}

/// `expr::compile`, with a panic of the parser turned into an error: the
/// expression crate (expr-lang 2.1) reaches an `unreachable!` on some
/// malformed text, such as `all(result, {#:i > 0.5})` (found by the
/// `condition` fuzz target), and text from outside must not end a task.
///
/// ```
/// use rollgate_analysis::condition::compile;
/// assert!(compile("result > 0.5").is_ok());
/// assert!(compile("result >").is_err());
/// ```
///
/// # Errors
///
/// The parser's message, or that it failed on this text.
pub fn compile(text: &str) -> Result<Program, String> {
    match std::panic::catch_unwind(|| expr::compile(text)) {
        Ok(compiled) => compiled.map_err(|e| e.to_string()),
        Err(_) => Err(
            "the expression parser failed on this text (a malformed map or closure?)".to_owned(),
        ),
    }
}

/// One condition, as written, and compiled (or why it does not compile)
/// when first evaluated here: a condition evaluated in another process
/// ([`crate::isolation`]) is never compiled in this one.
#[derive(Debug)]
struct Compiled {
    text: String,
    program: OnceLock<Result<Program, String>>,
}

impl Compiled {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            program: OnceLock::new(),
        }
    }

    fn program(&self) -> &Result<Program, String> {
        self.program.get_or_init(|| {
            within_limits(&self.text)
                .map_err(|e| format!("the condition {e}"))
                .and_then(|()| compile(&self.text).map_err(|e| one_line(&e)))
        })
    }

    /// The condition's truth for `result`, or Argo's message for an error.
    fn holds(&self, kind: ConditionKind, result: &Value) -> Result<bool, String> {
        let outcome = match self.program() {
            Ok(program) => ENVIRONMENT
                .run(program, &ResultScope(result))
                .map_err(|e| e.to_string())
                .and_then(|v| match v {
                    Value::Bool(b) => Ok(b),
                    other => Err(format!("expected a boolean, but got {}", describe(&other))),
                }),
            Err(e) => Err(e.clone()),
        };
        outcome.map_err(|e| {
            let (field, text) = (kind.field(), shown(&self.text));
            if nil_or_empty(result) {
                format!(
                    "could not evaluate {field} \"{text}\": metric result is nil or empty: no data returned from the metric provider"
                )
            } else {
                format!("could not evaluate {field} \"{text}\": {e}")
            }
        })
    }
}

/// A condition as a message quotes it: whole, or its first 64 characters
/// and an ellipsis when it is over the limit.
fn shown(text: &str) -> String {
    if text.len() <= MAX_CONDITION_BYTES {
        return text.to_owned();
    }
    let head: String = text.chars().take(64).collect();
    format!("{head}...")
}

/// A parser's message drawn over several lines (position, the expression
/// with a caret, what was expected) as one line: `expected ... (at line:column)`.
fn one_line(message: &str) -> String {
    if !message.contains('\n') {
        return message.to_owned();
    }
    let position = message
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .map(str::trim);
    let expected = message
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .map(str::trim);
    match (expected, position) {
        (Some(e), Some(p)) => format!("{e} (at {p})"),
        _ => message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A metric's conditions, compiled once.
///
/// ```
/// use expr::Value;
/// use rollgate_analysis::condition::Conditions;
/// use rollout_core::AnalysisPhase;
/// let c = Conditions::new(Some("result[0] >= 0.95"), Some("result[0] < 0.9"));
/// let value = |v: f64| Value::Array(vec![Value::Float(v)]);
/// assert_eq!(c.assess(&value(0.99)), Ok(AnalysisPhase::Successful));
/// assert_eq!(c.assess(&value(0.92)), Ok(AnalysisPhase::Inconclusive));
/// assert_eq!(c.assess(&value(0.5)), Ok(AnalysisPhase::Failed));
/// ```
#[derive(Debug)]
pub struct Conditions {
    success: Option<Compiled>,
    failure: Option<Compiled>,
}

impl Conditions {
    /// The conditions as written (an empty string counts as absent, as in
    /// Argo).
    pub fn new(success: Option<&str>, failure: Option<&str>) -> Self {
        let compile = |c: Option<&str>| c.filter(|c| !c.is_empty()).map(Compiled::new);
        Self {
            success: compile(success),
            failure: compile(failure),
        }
    }

    /// The conditions of a metric ([`effective`]).
    pub fn of(metric: &Metric) -> Self {
        let (success, failure) = effective(metric);
        Self::new(success, failure)
    }

    /// The condition of a kind, as written.
    pub fn text(&self, kind: ConditionKind) -> Option<&str> {
        match kind {
            ConditionKind::Success => self.success.as_ref(),
            ConditionKind::Failure => self.failure.as_ref(),
        }
        .map(|c| c.text.as_str())
    }

    /// The phase of a measurement whose value is `result` (Argo's
    /// `EvaluateResult`); `Err` holds the measurement's message when a
    /// condition cannot be evaluated (the measurement is then an `Error`).
    pub fn assess(&self, result: &Value) -> Result<AnalysisPhase, String> {
        let success = match &self.success {
            Some(c) => Some(c.holds(ConditionKind::Success, result)?),
            None => None,
        };
        let failure = match &self.failure {
            Some(c) => Some(c.holds(ConditionKind::Failure, result)?),
            None => None,
        };
        let (success, failure) = match (success, failure) {
            (None, None) => return Ok(AnalysisPhase::Successful),
            (Some(s), None) => (s, !s),
            (None, Some(f)) => (!f, f),
            (Some(s), Some(f)) => (s, f),
        };
        Ok(if failure {
            AnalysisPhase::Failed
        } else if success {
            AnalysisPhase::Successful
        } else {
            AnalysisPhase::Inconclusive
        })
    }

    /// The conditions in words, for a message (see [`describe`]).
    pub fn describe(&self) -> String {
        describe_conditions(
            self.text(ConditionKind::Success),
            self.text(ConditionKind::Failure),
        )
    }
}

/// The judge's `successCondition` when its metric gives neither condition.
pub const JUDGE_SUCCESS_CONDITION: &str = r#"result.result == "Pass""#;
/// The judge's `failureCondition` when its metric gives neither condition.
pub const JUDGE_FAILURE_CONDITION: &str = r#"result.result == "Fail""#;

/// The conditions a metric's measurements are assessed by: its own, as
/// written. A metric of the embedded judge
/// ([`JUDGE_PLUGIN`](crate::types::JUDGE_PLUGIN)) that gives neither takes
/// [`JUDGE_SUCCESS_CONDITION`] and [`JUDGE_FAILURE_CONDITION`], so that a
/// verdict of Pass is Successful, Marginal Inconclusive and Fail Failed.
/// (Argo has no such default: without conditions every value is
/// Successful, which would let a failing judge pass.)
///
/// ```
/// use rollgate_analysis::condition::effective;
/// use rollgate_analysis::types::{Metric, MetricProvider};
/// let judge = Metric {
///     name: "judge".into(),
///     provider: MetricProvider {
///         plugin: Some([("rollgate/judge".to_owned(), serde_json::json!({}))].into()),
///         ..MetricProvider::default()
///     },
///     ..Metric::default()
/// };
/// assert_eq!(effective(&judge).1, Some(r#"result.result == "Fail""#));
/// let own = Metric { success_condition: Some("result.score > 90".into()), ..judge };
/// assert_eq!(effective(&own), (Some("result.score > 90"), None));
/// ```
pub fn effective(metric: &Metric) -> (Option<&str>, Option<&str>) {
    let success = given(&metric.success_condition);
    let failure = given(&metric.failure_condition);
    if success.is_none() && failure.is_none() && metric.provider.is_judge() {
        (Some(JUDGE_SUCCESS_CONDITION), Some(JUDGE_FAILURE_CONDITION))
    } else {
        (success, failure)
    }
}

/// A condition as written; an empty one counts as absent.
fn given(condition: &Option<String>) -> Option<&str> {
    condition.as_deref().filter(|c| !c.is_empty())
}

/// Conditions in words: `successCondition "..."`, `failureCondition
/// "..."`, or both joined by "and"; empty when there are none (an empty
/// condition counts as none).
pub fn describe_conditions(success: Option<&str>, failure: Option<&str>) -> String {
    [
        (ConditionKind::Success, success),
        (ConditionKind::Failure, failure),
    ]
    .into_iter()
    .filter_map(|(k, c)| {
        c.filter(|c| !c.is_empty())
            .map(|t| format!("{} \"{t}\"", k.field()))
    })
    .collect::<Vec<_>>()
    .join(" and ")
}

/// A measured value as conditions see it, from JSON: numbers, strings,
/// booleans, null, lists and maps keep their shape (a whole number stays
/// an integer).
///
/// ```
/// use rollgate_analysis::condition::from_json;
/// let v = from_json(&serde_json::json!([0.5, 2]));
/// assert_eq!(v, expr::Value::Array(vec![expr::Value::Float(0.5), expr::Value::Integer(2)]));
/// ```
pub fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Integer)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
