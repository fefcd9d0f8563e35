//! `junit.xml`: one test case per check, so GitLab's test report lists every threshold and
//! regression with its measured value and limit, and each of a k6 script's thresholds and
//! checks by its name in the script (a class per kind of check).

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{
    view::{CheckRow, View},
    ReportError, JUNIT_XML,
};
use crate::gate::{CheckKind, CheckState};

pub(crate) fn render(view: &View<'_>) -> Result<String, ReportError> {
    let mut suite = TestSuite::new("loadforge-gate");
    // A results file from outside may carry any number here.
    suite.set_time(Duration::try_from_secs_f64(view.run.duration_s).unwrap_or_default());
    properties(&mut suite, view);
    // In the order the gate judged them, as the verdict in results.json lists them.
    for check in &view.checks {
        suite.add_test_case(test_case(check));
    }
    if view.run.interrupted {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_description("the run was interrupted; results are partial");
        suite.add_test_case(TestCase::new("run completed", s));
    }
    let mut report = Report::new("loadforge-gate");
    report.add_test_suite(suite);
    report.to_string().map_err(|e| ReportError::Serialize {
        file: JUNIT_XML,
        source: Box::new(e),
    })
}

fn properties(suite: &mut TestSuite, view: &View<'_>) {
    let run = &view.run;
    suite.add_property(Property::new("engine", run.engine));
    suite.add_property(Property::new("target", run.target));
    suite.add_property(Property::new("users", run.users.to_string()));
    if run.insecure {
        suite.add_property(Property::new("tls", super::INSECURE));
    }
    if let Some(g) = &run.generator {
        suite.add_property(Property::new("load generator", g.text.as_str()));
    }
    if let Some(c) = run.counts {
        suite.add_property(Property::new("requests", c.requests.to_string()));
    }
    if let Some(sha) = view.commit {
        suite.add_property(Property::new("commit", sha));
    }
    if let Some(b) = &view.baseline {
        suite.add_property(Property::new("baseline", b.source));
    }
}

fn test_case(check: &CheckRow<'_>) -> TestCase {
    let status = match check.state {
        CheckState::Passed => TestCaseStatus::success(),
        CheckState::Failed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            // GitLab shows the element text, not the message attribute: put it in both.
            s.set_message(check.detail);
            s.set_description(check.detail);
            s
        }
        // Not judged is not a pass: an error element (GitLab counts it with the failures,
        // never as skipped or green), its text saying why.
        CheckState::NotJudged(why) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let text = format!("not judged: {}: {}", why.words(), check.detail);
            s.set_type(format!("not judged: {}", why.words()));
            s.set_message(text.as_str());
            s.set_description(text);
            s
        }
    };
    let mut case = TestCase::new(check.name, status);
    case.set_classname(match check.kind {
        CheckKind::Threshold => "loadforge-gate.thresholds",
        CheckKind::Regression => "loadforge-gate.regressions",
        CheckKind::K6Threshold => "loadforge-gate.k6-thresholds",
        CheckKind::K6Check => "loadforge-gate.k6-checks",
    });
    if check.passed() {
        case.set_system_out(check.detail);
    }
    case
}
