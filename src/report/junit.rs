//! `junit.xml`: one test case per check, so GitLab's test report lists every threshold and
//! regression with its measured value and limit.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Document, ReportError, JUNIT_XML};
use crate::gate::CheckKind;

pub fn render(doc: &Document) -> Result<String, ReportError> {
    let run = &doc.run.run;
    let mut suite = TestSuite::new("loadforge-gate");
    suite.set_time(Duration::from_secs_f64(run.duration_s));
    suite.add_property(Property::new("engine", run.engine.as_str()));
    suite.add_property(Property::new("target", run.target.as_str()));
    suite.add_property(Property::new("users", run.users.to_string()));
    if let Some((requests, _, _)) = doc.run.aggregate.counts() {
        suite.add_property(Property::new("requests", requests.to_string()));
    }
    if let Some(sha) = doc.run.ci.as_ref().and_then(|c| c.commit_sha.as_deref()) {
        suite.add_property(Property::new("commit", sha));
    }
    if let Some(c) = &doc.comparison {
        suite.add_property(Property::new("baseline", c.source.as_str()));
    }
    if let Some(verdict) = &doc.verdict {
        for check in &verdict.checks {
            let status = if check.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                // GitLab shows the element text, not the message attribute: put it in both.
                s.set_message(check.detail.as_str());
                s.set_description(check.detail.as_str());
                s
            };
            let mut case = TestCase::new(check.name.as_str(), status);
            case.set_classname(match check.kind {
                CheckKind::Threshold => "loadforge-gate.thresholds",
                CheckKind::Regression => "loadforge-gate.regressions",
            });
            if check.passed {
                case.set_system_out(check.detail.as_str());
            }
            suite.add_test_case(case);
        }
    }
    if run.interrupted {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_description("the run was interrupted; results are partial");
        suite.add_test_case(TestCase::new("run completed", s));
    }
    let mut report = Report::new("loadforge-gate");
    report.add_test_suite(suite);
    report.to_string().map_err(|e| ReportError::Serialize {
        file: JUNIT_XML.into(),
        message: e.to_string(),
    })
}
