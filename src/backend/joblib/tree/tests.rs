//! Tests against locations written by real joblib (tests/python/caches/make_joblib.py).

use super::*;
use crate::backend::fixtures::{have_python_module, run_json};
use serde_json::Value;
use std::collections::BTreeMap;

fn scenario(name: &str) -> Option<(tempfile::TempDir, Value)> {
    if !have_python_module("joblib") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let m = run_json(
        "make_joblib.py",
        &[tmp.path().as_os_str(), "--scenario".as_ref(), name.as_ref()],
    );
    Some((tmp, m))
}

fn parts_of(s: &str) -> Vec<String> {
    s.split('/').map(String::from).collect()
}

fn by_rel(funcs: &[FunctionRecord]) -> BTreeMap<String, &FunctionRecord> {
    funcs.iter().map(|f| (f.parts.join("/"), f)).collect()
}

/// Every function and call the manifest lists, with joblib's own metadata and sizes.
fn assert_matches_manifest(funcs: &[FunctionRecord], manifest: &Value) {
    let want = manifest["functions"].as_object().unwrap();
    let got = by_rel(funcs);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (rel, w) in want {
        let f = got[rel];
        let code = w["func_code"].as_str().unwrap();
        if !matches!(f.code, FuncCode::Invalid(_)) {
            let header = code.split('\n').next().unwrap();
            match &f.code {
                FuncCode::Source { first_line, text } => {
                    assert_eq!(header, format!("# first line: {first_line}"));
                    assert_eq!(&code[header.len() + 1..], text);
                }
                FuncCode::Fingerprint(s) | FuncCode::Repr(s) => {
                    assert_eq!(header, "# first line: -1");
                    assert_eq!(&code[header.len() + 1..], s);
                }
                FuncCode::Invalid(_) => unreachable!(),
            }
        }
        let calls = w["calls"].as_object().unwrap();
        assert_eq!(
            f.calls.iter().map(|c| &c.hash).collect::<Vec<_>>(),
            calls.keys().collect::<Vec<_>>(),
            "{rel}"
        );
        for c in &f.calls {
            let wc = &calls[&c.hash];
            assert_eq!(c.size, wc["size"].as_u64().unwrap(), "{rel}/{}", c.hash);
            let meta = &wc["metadata"];
            if meta.get("time").is_some() {
                assert_eq!(c.time, meta["time"].as_f64());
                assert_eq!(c.duration, meta["duration"].as_f64());
                let args: Vec<(String, String)> = meta["input_args"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let mut mine = c.input_args.clone();
                mine.sort();
                assert_eq!(mine, args, "{rel}/{}", c.hash);
            }
        }
    }
}

#[test]
fn module_functions_calls_and_sources() {
    let Some((_tmp, m)) = scenario("module") else {
        return;
    };
    let location = PathBuf::from(m["location"].as_str().unwrap());
    let jl = detect(&location).expect("location detected");
    assert_eq!(jl, location.join("joblib"));
    assert_eq!(detect(&jl), Some(jl.clone()), "the joblib/ folder itself");
    let funcs = scan(&jl).unwrap();
    assert_matches_manifest(&funcs, &m);
    assert!(funcs
        .iter()
        .all(|f| f.calls.iter().all(|c| c.problems.is_empty())));
    assert_eq!(funcs.iter().map(|f| f.calls.len()).sum::<usize>(), 8);

    let roots = vec![PathBuf::from(m["source_root"].as_str().unwrap())];
    let src = &roots[0];
    let expect = [
        ("pkgj/hello", "pkgj/__init__.py", "hello"),
        ("pkgj/calc/square", "pkgj/calc.py", "square"),
        ("pkgj/calc/power", "pkgj/calc.py", "power"),
        ("pkgj/calc/Geometry/area", "pkgj/calc.py", "Geometry.area"),
        (
            "pkgj/calc/make_scaler/<locals>/scale",
            "pkgj/calc.py",
            "make_scaler.<locals>.scale",
        ),
    ];
    let got = by_rel(&funcs);
    for (rel, file, qual) in expect {
        let f = got[rel];
        let mf = module_file(&f.parts, &roots).unwrap_or_else(|| panic!("{rel}"));
        assert_eq!(mf.path, src.join(file), "{rel}");
        assert_eq!(mf.qualname(&f.parts), qual);
        let FuncCode::Source { first_line, text } = &f.code else {
            panic!("{rel}: {:?}", f.code)
        };
        let source = fs::read_to_string(&mf.path).unwrap();
        assert!(matches_source(text, *first_line, &source), "{rel}");
        assert!(!matches_source(text, first_line + 1, &source), "{rel}");
    }
    // decorators are part of the text: area's block starts at @staticmethod
    let FuncCode::Source { text, .. } = &got["pkgj/calc/Geometry/area"].code else {
        unreachable!()
    };
    assert!(
        text.starts_with("    @staticmethod\n    def area("),
        "{text:?}"
    );
    assert!(module_file(&parts_of("nope/f"), &roots).is_none());
}

#[test]
fn main_script_is_found_from_its_encoded_folders() {
    let Some((_tmp, m)) = scenario("main") else {
        return;
    };
    let jl = detect(Path::new(m["location"].as_str().unwrap())).unwrap();
    let funcs = scan(&jl).unwrap();
    assert_matches_manifest(&funcs, &m);
    assert_eq!(funcs.len(), 1);
    let f = &funcs[0];
    assert!(f.is_main());
    // joblib's func_id, split on os.sep: the '.' of "run-me.v2" made a folder break
    let want: Vec<String> = m["func_id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(f.parts, want);
    let mf = module_file(&f.parts, &[]).expect("script found");
    assert_eq!(mf.path, PathBuf::from(m["script"].as_str().unwrap()));
    assert_eq!(mf.qualname(&f.parts), "greet");
    let FuncCode::Source { first_line, text } = &f.code else {
        panic!("{:?}", f.code)
    };
    assert!(matches_source(
        text,
        *first_line,
        &fs::read_to_string(&mf.path).unwrap()
    ));
    let mut args: Vec<String> = f.calls.iter().map(CallRecord::args_text).collect();
    args.sort();
    assert_eq!(args, ["punct='!', who='ann'", "punct='?', who='bob'"]);
}

#[test]
fn builtin_keeps_its_repr() {
    let Some((_tmp, m)) = scenario("builtin") else {
        return;
    };
    let jl = detect(Path::new(m["location"].as_str().unwrap())).unwrap();
    let funcs = scan(&jl).unwrap();
    assert_matches_manifest(&funcs, &m);
    assert_eq!(funcs[0].parts, parts_of("math/sqrt"));
    assert_eq!(
        funcs[0].code,
        FuncCode::Repr("<built-in function sqrt>".into())
    );
    let args: Vec<String> = funcs[0].calls.iter().map(CallRecord::args_text).collect();
    assert_eq!(args, ["*=[2.0], **={}", "*=[16.0], **={}"]);
}

#[test]
fn damaged_tree_reports_each_problem() {
    let Some((_tmp, m)) = scenario("bad") else {
        return;
    };
    let jl = detect(Path::new(m["location"].as_str().unwrap())).unwrap();
    let funcs = scan(&jl).unwrap();
    let got = by_rel(&funcs);
    let mut problems: BTreeMap<String, Vec<CallProblem>> = BTreeMap::new();
    for f in &funcs {
        for c in &f.calls {
            if !c.problems.is_empty() {
                problems.insert(
                    format!("{}/{}", f.parts.join("/"), c.hash),
                    c.problems.clone(),
                );
            }
        }
    }
    let damage = m["damage"].as_array().unwrap();
    let path = |i: usize| damage[i]["path"].as_str().unwrap().to_string();
    let dir = |i: usize| path(i).rsplit_once('/').unwrap().0.to_string();
    assert_eq!(problems[&dir(0)], [CallProblem::MissingOutput]);
    assert_eq!(problems[&dir(1)], [CallProblem::MissingMetadata]);
    assert!(matches!(
        &problems[&dir(2)][..],
        [CallProblem::BadMetadata(_)]
    ));
    assert_eq!(
        problems[&path(4)],
        [CallProblem::MissingOutput, CallProblem::MissingMetadata]
    );
    assert_eq!(problems.len(), 4);
    match &got["pkgj/calc/power"].code {
        FuncCode::Invalid(why) => {
            assert!(
                why.contains("pkgj/calc/power/func_code.py: func_code.py is not UTF-8"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    // the damaged function still lists its calls
    assert_eq!(got["pkgj/calc/power"].calls.len(), 2);
}

#[test]
fn parse_func_code_rejects_what_joblib_never_writes() {
    let p = Path::new("x/func_code.py");
    assert_eq!(
        parse_func_code(p, b"# first line: 3\ndef f():\n    pass\n"),
        FuncCode::Source {
            first_line: 3,
            text: "def f():\n    pass\n".into()
        }
    );
    assert_eq!(
        parse_func_code(p, b"# first line: -1\n0123456789abcdef0123456789abcdef"),
        FuncCode::Fingerprint("0123456789abcdef0123456789abcdef".into())
    );
    assert_eq!(
        parse_func_code(p, b"# first line: -1\n<ufunc 'add'>"),
        FuncCode::Repr("<ufunc 'add'>".into())
    );
    for bad in [
        &b"def f(): pass\n"[..],
        b"# first line: x\n",
        b"# first line: 0\n",
        b"\xff",
    ] {
        assert!(
            matches!(parse_func_code(p, bad), FuncCode::Invalid(ref w) if w.starts_with("x/func_code.py: "))
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(detect(tmp.path()), None);
    fs::create_dir_all(tmp.path().join("joblib/m/f")).unwrap();
    fs::write(tmp.path().join("joblib/m/f/func_code.py"), "print('hi')\n").unwrap();
    assert_eq!(
        detect(tmp.path()),
        None,
        "func_code.py without joblib's header"
    );
}

fn execution_count(calls: &Value) -> usize {
    calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["executed"].as_bool().unwrap())
        .count()
}

#[test]
fn purge_then_real_joblib_recomputes_exactly_the_purged_calls() {
    let Some((tmp, m)) = scenario("module") else {
        return;
    };
    assert_eq!(execution_count(&m["calls"]), 8);
    let jl = detect(Path::new(m["location"].as_str().unwrap())).unwrap();
    let funcs = scan(&jl).unwrap();
    let got = by_rel(&funcs);
    let square = got["pkgj/calc/square"];
    let victims = [
        (square.calls[0].dir.clone(), square.calls[0].size),
        (
            got["pkgj/hello"].calls[0].dir.clone(),
            got["pkgj/hello"].calls[0].size,
        ),
    ];
    let o = purge_call(&jl, &victims[0].0).unwrap();
    assert_eq!(
        o,
        PurgeOutcome {
            bytes: victims[0].1,
            removed_function: false
        }
    );
    let o = purge_call(&jl, &victims[1].0).unwrap();
    assert_eq!(
        o,
        PurgeOutcome {
            bytes: victims[1].1,
            removed_function: true
        }
    );
    assert!(!jl.join("pkgj/hello").exists());
    assert!(
        jl.join("pkgj/calc").is_dir(),
        "module folder with other functions stays"
    );
    assert!(matches!(
        purge_call(&jl, &jl.join("pkgj/calc")),
        Err(JoblibError::NotCallFolder(_))
    ));
    let after = scan(&jl).unwrap();
    assert_eq!(after.iter().map(|f| f.calls.len()).sum::<usize>(), 6);

    let rerun = run_json(
        "make_joblib.py",
        &[
            tmp.path().as_os_str(),
            "--scenario".as_ref(),
            "module".as_ref(),
            "--rerun".as_ref(),
        ],
    );
    let executed: Vec<Vec<String>> = rerun["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["executed"].as_bool().unwrap())
        .map(|c| {
            c["call_id"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    let purged: Vec<Vec<String>> = victims
        .iter()
        .map(|(d, _)| {
            d.strip_prefix(&jl)
                .unwrap()
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    assert_eq!(executed, purged);
}

#[test]
fn cython_fingerprints_and_compiled_module() {
    if !have_python_module("Cython") || !have_python_module("setuptools") {
        return;
    }
    let Some((_tmp, m)) = scenario("cython") else {
        return;
    };
    let steps = m["steps"].as_array().unwrap();
    let step = |name: &str| steps.iter().find(|s| s["step"] == name).unwrap();
    let code_of = |s: &Value| {
        s["functions"]["cyfast/triple"]["func_code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // a rebuild of the same source keeps the fingerprint and the cached call
    assert_eq!(step("v1")["executed"], true);
    assert_eq!(step("v1-rebuilt-same-source")["executed"], false);
    assert_eq!(code_of(step("v1")), code_of(step("v1-rebuilt-same-source")));
    // a new body changes it and joblib recomputes
    assert_eq!(step("v2-new-body")["executed"], true);
    assert_ne!(code_of(step("v1")), code_of(step("v2-new-body")));

    let jl = detect(Path::new(m["location"].as_str().unwrap())).unwrap();
    let funcs = scan(&jl).unwrap();
    assert_eq!(funcs.len(), 1);
    let f = &funcs[0];
    assert_eq!(f.parts, parts_of("cyfast/triple"));
    let last = code_of(steps.last().unwrap());
    match &f.code {
        FuncCode::Fingerprint(h) => assert_eq!(last, format!("# first line: -1\n{h}")),
        FuncCode::Source { first_line, .. } => {
            assert!(last.starts_with(&format!("# first line: {first_line}\n")))
        }
        other => panic!("{other:?}"),
    }
    let build = PathBuf::from(m["build_dir"].as_str().unwrap());
    let so = compiled_modules(&f.parts, std::slice::from_ref(&build));
    assert_eq!(so.len(), 1, "{so:?}");
    assert_eq!(
        so[0].path,
        PathBuf::from(steps[0]["module_file"].as_str().unwrap())
    );
    assert_eq!(so[0].qualname(&f.parts), "triple");
}
