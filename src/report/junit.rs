//! JUnit XML (quick-junit): one testsuite per tutorial section (T-order), check ids as test
//! names, `<failure>` for fail, `<error>` for error, `<skipped>` for skip; each case that did
//! not pass carries its fix, its causes (root first) and where it ran from, in the failure's
//! text and as properties; the evidence (with any SMTP transcript) in system-out.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::RunReport;
use crate::verdict::Status;

pub fn render(report: &RunReport) -> String {
    let mut xml = Report::new("mailcheck");
    xml.set_time(report.duration);
    for (section, results) in super::by_section(&report.results) {
        let mut suite = TestSuite::new(section);
        for r in results {
            let mut status = match r.verdict.status {
                Status::Pass | Status::Warn => TestCaseStatus::success(),
                Status::Skip => TestCaseStatus::skipped(),
                Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            };
            let causes = super::causes_of(report, r);
            let vantage = r.vantage.as_ref().map(|v| v.describe());
            if r.verdict.status != Status::Pass {
                status.set_message(super::own_message(r));
                status.set_type(r.verdict.status.as_str());
            }
            if matches!(r.verdict.status, Status::Fail | Status::Error) {
                let mut text = super::own_message(r);
                for c in &causes {
                    text.push_str(&format!("\ncaused by: {c}"));
                }
                if let Some(fix) = &r.fix {
                    text.push_str(&format!("\nfix: {fix}"));
                }
                if let Some(v) = &vantage {
                    text.push_str(&format!("\nran {v}"));
                }
                status.set_description(text);
            }
            let mut case = TestCase::new(r.id.clone(), status);
            case.set_classname(format!("{}.{}", r.requirement, r.family));
            case.set_time(r.duration);
            case.add_property(Property::new("requirement", r.requirement.clone()));
            if r.verdict.status != Status::Pass {
                if let Some(fix) = &r.fix {
                    case.add_property(Property::new("fix", fix.clone()));
                }
                for c in &causes {
                    case.add_property(Property::new("caused_by", c.clone()));
                }
            }
            if let Some(v) = vantage {
                case.add_property(Property::new("vantage", v));
            }
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
