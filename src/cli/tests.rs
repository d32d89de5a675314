//! Arguments: durations, ids and limits never panic and mean what the user meant.

use super::*;
use proptest::prelude::*;

fn parse_ok(args: &[&str]) -> Option<Cli> {
    match parse(std::iter::once("cachescope").chain(args.iter().copied())) {
        Parsed::Run(cli) => Some(*cli),
        Parsed::Done(_) => None,
    }
}

fn duration_text() -> impl Strategy<Value = String> {
    let units = prop::sample::select(vec![
        "ns", "us", "ms", "s", "m", "h", "d", "w", "M", "y", "",
    ]);
    prop_oneof![
        (any::<u64>(), units.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (0u64..100_000, units.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (any::<u64>(), units.clone(), any::<u64>(), units)
            .prop_map(|(a, u, b, v)| format!("{a}{u} {b}{v}")),
        "\\PC{0,12}",
    ]
}

#[test]
fn busy_timeout_past_sqlites_limit_is_refused_at_it_accepted() {
    assert!(parse_ok(&["summary", "x.db", "--busy-timeout", "24d"]).is_some());
    assert!(parse_ok(&["summary", "x.db", "--busy-timeout", "25d"]).is_none());
    let e = parse_busy_timeout("30d").unwrap_err();
    assert!(e.contains("longer than SQLite can wait"), "{e}");
    assert_eq!(
        parse_busy_timeout("24d 20h 31m 23s 647ms").unwrap(),
        crate::store::MAX_BUSY_TIMEOUT
    );
}

#[test]
fn an_older_than_beyond_the_epoch_selects_nothing() {
    let now = 1_700_000_000_000;
    assert_eq!(created_before(now, Duration::from_millis(1000)), now - 1000);
    assert_eq!(created_before(now, Duration::MAX), i64::MIN);
    assert_eq!(
        created_before(now, Duration::from_millis(i64::MAX as u64)),
        now - i64::MAX
    );
    assert_eq!(
        created_before(i64::MIN + 5, Duration::from_millis(6)),
        i64::MIN
    );
}

#[test]
fn argument_errors_are_one_escaped_line() {
    let err = <Cli as clap::CommandFactory>::command()
        .styles(clap::builder::Styles::plain())
        .try_get_matches_from([
            "cachescope",
            "list",
            "x.db",
            "--older-than",
            "\x1b[31m\u{202e}\x07\nx",
        ])
        .unwrap_err();
    let line = argument_error(&err);
    assert!(!line.contains('\n') && !line.contains('\x1b'), "{line:?}");
    assert!(!line.chars().any(crate::text::needs_escape), "{line:?}");
    // The value as the user typed it, escaped: not stripped of its escape sequences.
    assert!(line.contains("'\\x1b[31m\\u{202e}\\x07\\nx'"), "{line}");
    assert!(line.contains("--older-than"), "{line}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any duration text: parsing never panics; an accepted `--older-than` gives a bound that
    /// only moves back as the duration grows, and an accepted `--busy-timeout` opens a store.
    #[test]
    fn durations_never_panic_and_saturate(a in duration_text(), b in duration_text()) {
        let now = 1_700_000_000_000i64;
        let mut bounds = Vec::new();
        for d in [&a, &b] {
            if let Some(Cli { command: Some(Command::List { select, .. }), .. }) =
                parse_ok(&["list", "x.db", "--older-than", d])
            {
                let f = select.filter(now);
                let before = f.created_before.expect("set");
                prop_assert!(before <= now);
                bounds.push((select.older_than.unwrap(), before));
            }
            if let Some(cli) = parse_ok(&["summary", "x.db", "--busy-timeout", d]) {
                let Some(Command::Summary { paths, .. }) = cli.command else { unreachable!() };
                prop_assert!(paths.busy_timeout <= crate::store::MAX_BUSY_TIMEOUT);
            }
        }
        if let [(da, ba), (db, bb)] = bounds[..] {
            // Millisecond resolution: a longer duration never gives a later bound.
            if da <= db {
                prop_assert!(bb <= ba);
            } else {
                prop_assert!(ba <= bb);
            }
        }
    }

    /// Any id and limit text parses or is refused; accepted ones reach the store without a panic.
    #[test]
    fn ids_and_limits_never_panic(id in any::<i64>(), limit in any::<u64>(), junk in "\\PC{0,8}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        drop(crate::store::Store::create(&path).unwrap());
        let p = path.to_str().unwrap();
        for text in [id.to_string(), junk.clone()] {
            if let Some(Cli { command: Some(Command::Show { id, .. }), .. }) =
                parse_ok(&["show", p, "--", &text])
            {
                let store = crate::store::Store::open(&path, &Default::default()).unwrap();
                prop_assert!(store.entry_detail(crate::backend::EntryId(id), 64).unwrap().is_none());
            }
        }
        for text in [limit.to_string(), junk] {
            if let Some(Cli { command: Some(Command::List { limit, .. }), .. }) =
                parse_ok(&["list", p, "--limit", &text])
            {
                // A limit is only ever narrowed to a page: the conversion cannot overflow.
                let want = limit.unwrap_or(u64::MAX).min(500) as i64;
                prop_assert!((0..=500).contains(&want));
                // And an unrepresentable busy timeout from a library caller is clamped.
                let paths = PathArgs {
                    remap: vec![],
                    busy_timeout: Duration::MAX,
                    source_root: vec![],
                    app: None,
                };
                let store = crate::store::Store::open(&path, &paths.backend_options(true).open).unwrap();
                prop_assert!(store.entries_page(&Default::default(), None, None, want).unwrap().is_empty());
            }
        }
    }
}
