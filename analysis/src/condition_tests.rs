//! Argo's `evaluate_test.go` cases, in Rollgate's own data.

use expr::Value;
use rollout_core::AnalysisPhase::{Failed, Inconclusive, Successful};

use super::*;

fn list(values: &[f64]) -> Value {
    Value::Array(values.iter().map(|v| Value::Float(*v)).collect())
}

#[test]
fn neither_condition_is_successful() {
    assert_eq!(
        Conditions::new(None, None).assess(&Value::Integer(0)),
        Ok(Successful)
    );
    assert_eq!(
        Conditions::new(Some(""), Some("")).assess(&Value::Nil),
        Ok(Successful)
    );
}

#[test]
fn success_condition_alone_fails_when_false() {
    let c = Conditions::new(Some("result > 10"), None);
    assert_eq!(c.assess(&Value::Integer(11)), Ok(Successful));
    assert_eq!(c.assess(&Value::Integer(10)), Ok(Failed));
}

#[test]
fn failure_condition_alone_succeeds_when_false() {
    let c = Conditions::new(None, Some("result > 10"));
    assert_eq!(c.assess(&Value::Integer(11)), Ok(Failed));
    assert_eq!(c.assess(&Value::Integer(3)), Ok(Successful));
}

#[test]
fn both_conditions_false_is_inconclusive_and_failure_wins() {
    let c = Conditions::new(Some("result >= 5"), Some("result <= 5"));
    assert_eq!(c.assess(&Value::Integer(5)), Ok(Failed));
    assert_eq!(c.assess(&Value::Integer(6)), Ok(Successful));
    let c = Conditions::new(Some("result > 5"), Some("result < 3"));
    assert_eq!(c.assess(&Value::Integer(4)), Ok(Inconclusive));
}

#[test]
fn lists_index_and_len() {
    let c = Conditions::new(Some("len(result) == 2 && result[0] > result[1]"), None);
    assert_eq!(c.assess(&list(&[2.0, 1.0])), Ok(Successful));
    assert_eq!(c.assess(&list(&[1.0, 2.0])), Ok(Failed));
    assert_eq!(c.assess(&list(&[3.0])), Ok(Failed));
}

#[test]
fn helpers_as_argo_provides_them() {
    let ok = |cond: &str, v: Value| Conditions::new(Some(cond), None).assess(&v);
    assert_eq!(ok("isNaN(result)", Value::Float(f64::NAN)), Ok(Successful));
    assert_eq!(ok("isNaN(result)", Value::Float(1.0)), Ok(Failed));
    assert_eq!(
        ok("isInf(result)", Value::Float(f64::NEG_INFINITY)),
        Ok(Successful)
    );
    assert_eq!(
        ok("asInt(result) == 12", Value::String("12".into())),
        Ok(Successful)
    );
    assert_eq!(ok("asInt(result) == 3", Value::Float(3.9)), Ok(Successful));
    assert_eq!(
        ok("asFloat(result) == 0.25", Value::String("0.25".into())),
        Ok(Successful)
    );
    assert_eq!(ok("default(result, 7) == 7", Value::Nil), Ok(Successful));
    assert_eq!(
        ok("default(result, 7) == 2", Value::Integer(2)),
        Ok(Successful)
    );
    assert_eq!(ok("isNil(result)", Value::Nil), Ok(Successful));
    assert_eq!(ok("isNil(result)", Value::Integer(0)), Ok(Failed));
    let map = from_json(&serde_json::json!({"status": "ok", "rate": 0.99}));
    assert_eq!(
        ok("result.status == 'ok' && result.rate > 0.9", map),
        Ok(Successful)
    );
}

#[test]
fn a_condition_that_cannot_run_is_an_error_naming_it() {
    let c = Conditions::new(Some("asInt(result) > 1"), None);
    assert_eq!(
        c.assess(&Value::String("abc".into())).unwrap_err(),
        "could not evaluate successCondition \"asInt(result) > 1\": asInt(): \"abc\" is not a whole number"
    );
    let c = Conditions::new(None, Some("result +"));
    let err = c.assess(&Value::Integer(1)).unwrap_err();
    assert!(
        err.starts_with("could not evaluate failureCondition \"result +\": "),
        "{err}"
    );
    let c = Conditions::new(Some("result"), None);
    assert_eq!(
        c.assess(&Value::Integer(1)).unwrap_err(),
        "could not evaluate successCondition \"result\": expected a boolean, but got a number"
    );
}

#[test]
fn an_empty_result_says_no_data_was_returned() {
    let c = Conditions::new(Some("result[0] > 1"), None);
    assert_eq!(
        c.assess(&list(&[])).unwrap_err(),
        "could not evaluate successCondition \"result[0] > 1\": metric result is nil or empty: no data returned from the metric provider"
    );
}

#[test]
fn describe_names_both_conditions() {
    let c = Conditions::new(Some("result > 1"), Some("result < 0"));
    assert_eq!(
        c.describe(),
        "successCondition \"result > 1\" and failureCondition \"result < 0\""
    );
    assert_eq!(Conditions::new(None, None).describe(), "");
}

#[test]
fn a_syntax_error_reads_on_one_line() {
    let err = Conditions::new(Some("result >"), None)
        .assess(&Value::Integer(1))
        .unwrap_err();
    assert_eq!(
        err,
        "could not evaluate successCondition \"result >\": expected conditional_if, negation_op, \
         sign_op, value, array, map, or ident (at 1:9)"
    );
}

#[test]
fn a_judge_metric_without_conditions_reads_the_verdict() {
    use crate::types::{JUDGE_PLUGIN, MetricProvider};
    let mut metric = Metric {
        name: "judge".into(),
        provider: MetricProvider {
            plugin: Some([(JUDGE_PLUGIN.to_owned(), serde_json::json!({}))].into()),
            ..MetricProvider::default()
        },
        ..Metric::default()
    };
    let verdict = |r: &str| from_json(&serde_json::json!({"result": r, "score": 60.0}));
    let c = Conditions::of(&metric);
    assert_eq!(c.assess(&verdict("Pass")), Ok(Successful));
    assert_eq!(c.assess(&verdict("Marginal")), Ok(Inconclusive));
    assert_eq!(c.assess(&verdict("Fail")), Ok(Failed));
    // A condition of its own replaces both defaults.
    metric.failure_condition = Some("result.score < 50".into());
    let c = Conditions::of(&metric);
    assert_eq!(c.text(ConditionKind::Success), None);
    assert_eq!(c.assess(&verdict("Fail")), Ok(Successful));
    // Another plugin keeps Argo's rule: no conditions, every value succeeds.
    metric.failure_condition = None;
    metric.provider.plugin = Some([("acme/metrics".to_owned(), serde_json::json!({}))].into());
    assert_eq!(
        Conditions::of(&metric).assess(&verdict("Fail")),
        Ok(Successful)
    );
}

#[test]
fn a_condition_over_the_length_limit_is_an_error_naming_the_limit() {
    let long = format!("result == \"{}\"", "é".repeat(MAX_CONDITION_BYTES));
    let c = Conditions::new(Some(&long), None);
    let message = c.assess(&Value::Integer(1)).unwrap_err();
    let quoted: String = long.chars().take(64).collect();
    assert_eq!(
        message,
        format!(
            "could not evaluate successCondition \"{quoted}...\": the condition is 8204 bytes \
             long, more than the limit of 4096 bytes"
        )
    );
}

/// Runs `f` on a thread with 2 MiB of stack, a tokio worker's: a stack
/// overflow aborts the test process.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn nesting_at_the_operator_limit_evaluates_on_a_small_stack() {
    let n = MAX_CONDITION_OPERATORS;
    let shapes = [
        (format!("{}1 > 0", "1 + ".repeat(n - 1)), Ok(Successful)),
        (
            format!("{}true{}", "(".repeat(n), ")".repeat(n)),
            Ok(Successful),
        ),
        (format!("{}0 < 1", "-".repeat(n - 1)), Err(())),
        (format!("{}true{}", "[".repeat(n), "]".repeat(n)), Err(())),
        (
            format!("{}true", "true ? 1 : ".repeat(MAX_CONDITION_BRANCHES)),
            Err(()),
        ),
        (format!("{}true", "not ".repeat(n)), Err(())),
    ];
    for (condition, expected) in shapes {
        assert_eq!(within_limits(&condition), Ok(()), "{condition}");
        let phase = on_small_stack(move || {
            Conditions::new(Some(&condition), None).assess(&Value::Integer(1))
        });
        assert_eq!(phase.map_err(|_| ()), expected);
    }
}

#[test]
fn a_chain_of_operators_over_the_limit_is_refused_not_overflowing() {
    // 200 additions overflowed a 2 MiB stack before the limit.
    let chain = format!("{}1 > 0", "1 + ".repeat(200));
    let message = on_small_stack(move || {
        Conditions::new(None, Some(&chain))
            .assess(&Value::Integer(1))
            .unwrap_err()
    });
    assert!(
        message.ends_with(
            "1 > 0\": the condition has 201 operators and brackets, more than the limit of 100"
        ),
        "{message}"
    );
    // Operators inside string literals, `==` and the word operators count as described.
    let operators = |text| scan(text).operators;
    assert_eq!(
        operators(r#"result == "a + b (c" && not (x in ['[', "\"+"])"#),
        8
    );
    assert_eq!(operators("result.a.b.c > 0.5 and 1..3 matches x"), 4);
    assert_eq!(scan("1..3 == [1, 2, 3] && '..' != `..`").ranges, 1);
}

#[test]
fn unmatched_brackets_are_refused_before_parsing() {
    // Found by the manifest fuzz target: a successCondition with some 40
    // unclosed `[` kept the parser busy for over 30 s (its time doubles
    // with each unclosed bracket).
    let unclosed = format!("result{} > 1", "[QQ".repeat(40));
    let phase = Conditions::new(Some(&unclosed), None).assess(&Value::Float(1.0));
    let message = format!("{phase:?}");
    assert!(
        message.contains("has a '[' that is not closed"),
        "{message}"
    );
    for (text, problem) in [
        ("all(result, {# > 1)", "has a ')' that closes nothing open"),
        ("(result > 1", "has a '(' that is not closed"),
        ("result] > 1", "has a ']' that closes nothing open"),
    ] {
        assert_eq!(within_limits(text), Err(problem.to_owned()), "{text}");
    }
    // Matched brackets, nested deep, and brackets inside strings are fine.
    let nested = format!("{}result{} > 0", "(".repeat(40), ")".repeat(40));
    assert_eq!(within_limits(&nested), Ok(()));
    assert_eq!(
        within_limits("all(result, {# > 1}) && result[0] != ']'"),
        Ok(())
    );
}

#[test]
fn ternaries_mixed_with_coalescing_beyond_the_limit_are_refused_before_parsing() {
    // Found by the condition fuzz target (kept as a seed): 6 ternaries, 2
    // `if`s and 24 `??` among 129 bytes took 12 s to parse in the target's
    // build.
    let found = include_str!("../../fuzz/seeds/condition/slow-parse-mixed-coalescing").trim();
    let refused = within_limits(found).unwrap_err();
    assert!(
        refused.starts_with("has 6 ternary operators, 2 `if`s and 24 `??` together"),
        "{refused}"
    );
    let phase = Conditions::new(Some(found), None).assess(&Value::Integer(1));
    assert!(
        format!("{phase:?}").contains("more than the limit of 1024"),
        "{phase:?}"
    );
    // At the limit, each shape of the mix is taken: (`??` per ternary + 1)
    // to the power of the ternaries is at most 1,024.
    for (ternaries, coalescings) in [(5, 3), (3, 9), (2, 24), (1, 40)] {
        let text = format!(
            "{}c",
            format!("{}b ? ", "a ?? ".repeat(coalescings)).repeat(ternaries)
        );
        assert_eq!(within_limits(&text), Ok(()), "{text}");
    }
    let over = format!("{}c", "a ?? a ?? a ?? b ? ".repeat(6));
    assert_eq!(
        within_limits(&over),
        Err(
            "has 6 ternary operators and 18 `??` together: the parser would read parts of \
             it up to 4096 times, more than the limit of 1024"
                .to_owned()
        )
    );
}

#[test]
fn ternaries_and_nested_indexes_beyond_the_limit_are_refused_before_parsing() {
    // Found by the condition fuzz target: conditions such as
    // `n?n??n?n??…` and `n[n[n[…]]]` kept the parser busy for over 30 s
    // (its time doubles with each ternary and each level of index).
    let over = MAX_CONDITION_BRANCHES + 1;
    let failing_ternaries = format!("{}1", "n?n??".repeat(over));
    let nested_indexes = format!("{}0{}", "n[".repeat(over), "]".repeat(over));
    let mixed = format!("{}{}0{}", "n?n??".repeat(3), "n[".repeat(4), "]".repeat(4));
    // Found by the same target: each `if` that does not begin an `if`
    // expression doubles the time too (`1 + if + ` sixteen times, 3.7 s).
    let failing_ifs = format!("{}1", "1 + if + ".repeat(over));
    let ifs_and_ternaries = format!("{}{}1", "if + ".repeat(4), "n ? 1 : ".repeat(3));
    for text in [
        &failing_ternaries,
        &nested_indexes,
        &mixed,
        &failing_ifs,
        &ifs_and_ternaries,
    ] {
        assert_eq!(
            within_limits(text),
            Err(format!(
                "has {over} ternary operators, `if`s and levels of '[', more than the limit of 6"
            )),
            "{text}"
        );
        let phase = Conditions::new(Some(text), None).assess(&Value::Integer(1));
        assert!(
            format!("{phase:?}").contains("more than the limit of 6"),
            "{phase:?}"
        );
    }
    // Within the limit: indexes in sequence, arrays, `??` and `?.`, strings.
    for text in [
        "result[0][1][2][3][4][5][6] > 0",
        "[[[[[[[1]]]]]]][0] == [1]",
        "result.status in ['a[', \"b?\"] || result?.a ?? result?.[0] ?? 1 > 0",
        "a[b[c[0]]] ? a : b ? c : d ? e : f",
        "x in [[[[[[[1]]]]]]]",
    ] {
        assert_eq!(within_limits(text), Ok(()), "{text}");
    }
    let branches = |text| {
        let scan = scan(text);
        scan.ternaries + scan.deepest_index
    };
    assert_eq!(branches("result[0] >= 0.95"), 1);
    assert_eq!(branches("f(a)[b[0]] ? 1 : 0"), 3);
    assert_eq!(branches("'x'[0] + {a: 1}['a'] + [1][0]"), 1);
}

#[test]
fn a_range_is_refused_and_repeat_is_bounded() {
    // Found by the condition fuzz target: `3-8..8888888884` built an array
    // of 8.9 billion values and ran out of memory. Argo's expression
    // language stops such a range at its memory budget; this one has none,
    // so ranges are refused (a deliberate difference).
    for text in ["3-8..8888888884", "len(0..2) == 3", "all(1..3, {# > 0})"] {
        let problem = within_limits(text).unwrap_err();
        assert!(
            problem.starts_with("has a range (`..`)"),
            "{text}: {problem}"
        );
        let phase = Conditions::new(Some(text), None).assess(&Value::Integer(1));
        assert!(format!("{phase:?}").contains("has a range"), "{phase:?}");
    }
    assert_eq!(within_limits("result == '1..3'"), Ok(()));
    // The same for `let` and `reduce`, whose steps can double what the
    // one before built: both ran out of memory in 30 steps.
    let doubling_lets = format!("let a = 'xx'; {}len(a) > 0", "let a = a + a; ".repeat(30));
    for (text, word) in [
        (doubling_lets.as_str(), "let"),
        (
            "len(reduce(split('xxxx', ''), #acc + #acc, 'x')) > 0",
            "reduce",
        ),
    ] {
        let problem = within_limits(text).unwrap_err();
        assert!(problem.starts_with(&format!("uses `{word}`")), "{problem}");
    }
    assert_eq!(
        within_limits("result.reduce > 0 && result.let == 'reduce'"),
        Ok(())
    );
    // `repeat` builds at most MAX_REPEAT_BYTES.
    let within = format!("len(repeat('ab', {})) > 0", MAX_REPEAT_BYTES / 2);
    assert_eq!(
        Conditions::new(Some(&within), None).assess(&Value::Integer(1)),
        Ok(Successful)
    );
    let over = format!("len(repeat('{}', 1000000)) > 0", "x".repeat(4000));
    let phase = Conditions::new(Some(&over), None).assess(&Value::Integer(1));
    assert!(
        format!("{phase:?}").contains("repeat() would build more than 1048576 bytes"),
        "{phase:?}"
    );
}

#[test]
fn a_condition_the_parser_panics_on_is_an_error() {
    // Found by the condition fuzz target: expr-lang 2.1 reaches an
    // `unreachable!` on a map key of `#` and a name.
    let phase = Conditions::new(Some("all(result, {#:i > 0.5})"), None).assess(&Value::Float(1.0));
    let message = format!("{phase:?}");
    assert!(
        message.contains("the expression parser failed"),
        "{message}"
    );
}

#[test]
fn the_found_mix_of_ifs_ternaries_and_coalescing_is_refused_before_parsing() {
    // Found by the condition fuzz target on 2026-12-03: 6 ternaries, 12
    // `??` (within the rereads limit alone) and 6 `if`s took 0.4 s to parse.
    let found = include_str!("../../fuzz/seeds/condition/slow-parse-if-expressions");
    assert_eq!(
        within_limits(found),
        Err(
            "has 6 ternary operators, 6 `if`s and 12 `??` together: the parser would read \
             parts of it up to 12230590464 times, more than the limit of 1024"
                .to_owned()
        )
    );
    // One `if` before five ternaries after three `??` each (200 ms to
    // parse), refused; before three of them (10 ms), taken.
    let mix = |ternaries: usize| format!("if + {}1", "a ?? a ?? a ?? b ? ".repeat(ternaries));
    assert_eq!(
        within_limits(&mix(5)),
        Err(
            "has 5 ternary operators, 1 `if` and 15 `??` together: the parser would read \
             parts of it up to 16384 times, more than the limit of 1024"
                .to_owned()
        )
    );
    assert_eq!(within_limits(&mix(3)), Ok(()));
    // Without ternaries, `if`s and `??` mix freely; without `??`, `if`s
    // count with the ternaries.
    assert_eq!(
        within_limits(&format!("{}1", "a ?? a ?? if + ".repeat(6))),
        Ok(())
    );
    assert!(within_limits(&format!("{}1", "if + b ? ".repeat(4))).is_err());
    // The keyword as the grammar reads it: `if$x` and `ifé` begin with it,
    // `ifx` and `if_x` are names.
    let words = |word: &str| format!("if + {}1", format!("{word} + a ?? b ? ").repeat(3));
    assert!(within_limits(&words("if$x")).is_err());
    assert!(within_limits(&words("ifé")).is_err());
    assert_eq!(within_limits(&words("ifx")), Ok(()));
    assert_eq!(within_limits(&words("if_x")), Ok(()));
    // The names `if` of a measured value's fields are not counted.
    assert_eq!(
        within_limits(&format!("{}1", "result.if + ".repeat(7))),
        Ok(())
    );
}
