//! JUnit XML (quick-junit): one testsuite per family, check ids as test names, `<failure>` for
//! fail, `<error>` for error, `<skipped>` for skip; the evidence (with any SMTP transcript) in
//! system-out.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::RunReport;
use crate::verdict::Status;

pub fn render(report: &RunReport) -> String {
    let mut xml = Report::new("mailcheck");
    xml.set_time(report.duration);
    let mut families: Vec<&str> = report.results.iter().map(|r| r.family.as_str()).collect();
    families.dedup();
    for family in families {
        let mut suite = TestSuite::new(family);
        for r in report.results.iter().filter(|r| r.family == family) {
            let mut status = match r.verdict.status {
                Status::Pass | Status::Warn => TestCaseStatus::success(),
                Status::Skip => TestCaseStatus::skipped(),
                Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            };
            if r.verdict.status != Status::Pass {
                status.set_message(r.verdict.message.clone());
                status.set_type(r.verdict.status.as_str());
            }
            if let (Status::Fail | Status::Error, Some(fix)) = (r.verdict.status, &r.fix) {
                status.set_description(format!("{}\nfix: {fix}", r.verdict.message));
            }
            let mut case = TestCase::new(r.id.clone(), status);
            case.set_classname(format!("{}.{}", r.requirement, r.family));
            case.set_time(r.duration);
            let mut out = format!("{} {}: {}\n", r.verdict.status, r.id, r.verdict.message);
            if r.verdict.status == Status::Warn {
                out.insert_str(0, "WARNING: ");
            }
            if r.verdict.status != Status::Pass && !r.evidence.is_null() {
                out.push_str(&serde_json::to_string_pretty(&r.evidence).unwrap_or_default());
                out.push('\n');
            }
            case.set_system_out(out);
            suite.add_test_case(case);
        }
        xml.add_test_suite(suite);
    }
    xml.to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialise JUnit report: {e} -->\n"))
}
