//! The host firewall, read-only: `nft list ruleset` and `iptables-save`/`ip6tables-save`
//! dumps, and a best-effort reading of whether their input rules let a TCP port in.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which firewall tool a dump comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Nft,
    Iptables,
    Ip6tables,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::Nft, Tool::Iptables, Tool::Ip6tables];

    /// The read-only command that prints the rules.
    pub fn command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Tool::Nft => ("nft", &["list", "ruleset"]),
            Tool::Iptables => ("iptables-save", &[]),
            Tool::Ip6tables => ("ip6tables-save", &[]),
        }
    }
}

/// What one tool printed, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dump {
    pub tool: Tool,
    /// Where the executable is; `None` when it is not installed.
    #[serde(default)]
    pub program: Option<PathBuf>,
    /// The rules as printed (capped at [`MAX_DUMP`] bytes).
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub problem: Option<String>,
    /// The tool said it lacks privileges.
    #[serde(default)]
    pub needs_root: bool,
}

/// Bytes of a rules dump kept.
pub const MAX_DUMP: usize = 256 * 1024;

/// Finds `name` in PATH and the sbin directories (often not in a user's PATH).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `tool`'s listing command under `deadline`. Nothing is changed on the host.
pub async fn dump(tool: Tool, deadline: Duration) -> Dump {
    let (name, args) = tool.command();
    let mut d = Dump {
        tool,
        program: find_program(name),
        text: String::new(),
        problem: None,
        needs_root: false,
    };
    let Some(program) = d.program.clone() else {
        return d;
    };
    let run = tokio::process::Command::new(&program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(deadline, run).await {
        Err(_) => {
            d.problem = Some(format!(
                "{} gave no answer within {}",
                program.display(),
                humantime::format_duration(deadline)
            ));
        }
        Ok(Err(e)) => d.problem = Some(format!("cannot run {}: {e}", program.display())),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if out.status.success() {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.truncate(text.floor_char_boundary(MAX_DUMP));
                d.text = text;
            } else {
                let lower = stderr.to_ascii_lowercase();
                d.needs_root = lower.contains("permission denied")
                    || lower.contains("operation not permitted")
                    || lower.contains("you must be root");
                d.problem = Some(if d.needs_root {
                    format!(
                        "needs root to read the firewall rules ({} {})",
                        name,
                        args.join(" ")
                    )
                } else {
                    format!("{} {} failed: {stderr}", program.display(), args.join(" "))
                });
            }
        }
    }
    d
}

/// What the input rules do with new TCP connections to a port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PortReading {
    pub port: u16,
    /// The first rule that drops or rejects every such connection.
    pub blocked_by: Option<String>,
    /// Rules that drop or reject some such connections (by source, interface, state).
    pub partly_blocked_by: Vec<String>,
    /// The first rule that accepts them.
    pub accepted_by: Option<String>,
    /// The input chain's policy drops what no rule accepts (and no rule accepts this port).
    pub policy_drop: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Accept,
    Block,
    Other,
}

/// A port list as firewalls write it: `25`, `smtp`, `20-30`, `20:30`, `{ 25, 587 }`, `25,587`.
fn port_in(list: &str, port: u16) -> bool {
    list.split(|c: char| c == ',' || c.is_whitespace() || c == '{' || c == '}')
        .filter(|s| !s.is_empty())
        .any(|item| {
            let named = match item {
                "smtp" => Some(25),
                "submission" => Some(587),
                _ => None,
            };
            if let Some(n) = named {
                return n == port;
            }
            match item.split_once(['-', ':']) {
                Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
                    (Ok(a), Ok(b)) => (a..=b).contains(&port),
                    _ => false,
                },
                None => item.parse::<u16>() == Ok(port),
            }
        })
}

/// One rule reduced to what matters here.
struct RuleFacts {
    /// Some(true) the rule names the port; Some(false) it names other ports; None no port.
    port: Option<bool>,
    /// It has selectors other than protocol and port (source, interface, state...).
    conditional: bool,
    /// It is for UDP (or another protocol), not TCP.
    not_tcp: bool,
    action: Action,
}

/// Applies the rules of one input chain in order: the first that decides wins.
fn decide(rules: &[(String, RuleFacts)], policy_drop: Option<String>, port: u16) -> PortReading {
    let mut r = PortReading {
        port,
        ..PortReading::default()
    };
    for (text, f) in rules {
        if f.not_tcp || f.port == Some(false) || f.action == Action::Other {
            continue;
        }
        match (f.action, f.conditional) {
            (Action::Block, true) => r.partly_blocked_by.push(text.clone()),
            (Action::Block, false) => {
                r.blocked_by = Some(text.clone());
                return r;
            }
            (Action::Accept, false) => {
                r.accepted_by = Some(text.clone());
                return r;
            }
            // A conditional accept lets some clients in; keep looking for the rest.
            _ => {}
        }
    }
    r.policy_drop = policy_drop;
    r
}

/// One nft chain being read.
struct NftChain {
    name: String,
    /// A base chain on the input hook.
    input: bool,
    policy_drop: Option<String>,
    rules: Vec<(String, RuleFacts)>,
}

/// Reads an `nft list ruleset` dump: every base chain with `hook input`.
pub fn read_nft(text: &str, port: u16) -> Vec<PortReading> {
    let mut out = Vec::new();
    let mut chain: Option<NftChain> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix("chain ") {
            chain = Some(NftChain {
                name: name.trim_end_matches('{').trim().to_string(),
                input: false,
                policy_drop: None,
                rules: Vec::new(),
            });
            continue;
        }
        let Some(NftChain {
            name,
            input,
            policy_drop: policy,
            rules,
        }) = chain.as_mut()
        else {
            continue;
        };
        if line == "}" {
            if *input {
                out.push(decide(rules, policy.take(), port));
            }
            chain = None;
            continue;
        }
        if line.starts_with("type ") && line.contains(" hook ") {
            *input = line.contains("hook input");
            if line.contains("policy drop") {
                *policy = Some(format!("chain {name}: {line}"));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let action = if words.iter().any(|w| *w == "drop" || *w == "reject") {
            Action::Block
        } else if words.contains(&"accept") {
            Action::Accept
        } else {
            Action::Other
        };
        let port_match = line.find("dport ").map(|i| {
            let rest = &line[i + 6..];
            let list = if rest.starts_with('{') {
                rest.split('}').next().unwrap_or("")
            } else {
                rest.split_whitespace().next().unwrap_or("")
            };
            let negated = rest.starts_with("!=");
            port_in(list.trim_start_matches("!="), port) != negated
        });
        let not_tcp = words.contains(&"udp") && !words.contains(&"tcp");
        // Selectors that limit a rule to some clients (source, interface, connection state).
        const SELECTORS: &[&str] = &[
            "saddr", "daddr", "iif", "iifname", "ct", "mark", "limit", "oif", "oifname",
        ];
        let conditional = words
            .iter()
            .any(|w| SELECTORS.contains(w) || w.starts_with('@'));
        rules.push((
            line.to_string(),
            RuleFacts {
                port: port_match,
                conditional,
                not_tcp,
                action,
            },
        ));
    }
    out
}

/// Reads an `iptables-save`/`ip6tables-save` dump: the filter table's INPUT chain.
pub fn read_iptables(text: &str, port: u16) -> Vec<PortReading> {
    let mut in_filter = false;
    let mut policy = None;
    let mut rules = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(t) = line.strip_prefix('*') {
            in_filter = t == "filter";
            continue;
        }
        if !in_filter {
            continue;
        }
        if let Some(p) = line.strip_prefix(":INPUT ") {
            if p.starts_with("DROP") || p.starts_with("REJECT") {
                policy = Some(format!(
                    "INPUT policy {}",
                    p.split_whitespace().next().unwrap_or("")
                ));
            }
            continue;
        }
        let Some(args) = line.strip_prefix("-A INPUT ") else {
            continue;
        };
        let words = split_args(args);
        let mut port_match = None;
        let mut conditional = false;
        let mut not_tcp = false;
        let mut action = Action::Other;
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_str();
            let next = words.get(i + 1).map(String::as_str).unwrap_or("");
            let negated = i > 0 && words[i - 1] == "!";
            match w {
                "!" => {}
                "-p" | "--protocol" => {
                    not_tcp = next != "tcp" && next != "6";
                    i += 1;
                }
                "-m" | "--match" => i += 1,
                "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                    port_match = Some(port_in(next, port) != negated);
                    i += 1;
                }
                "-j" | "--jump" => {
                    action = match next {
                        "ACCEPT" => Action::Accept,
                        "DROP" | "REJECT" => Action::Block,
                        _ => Action::Other,
                    };
                    i += 1;
                }
                "--reject-with" | "--comment" => i += 1,
                _ => {
                    conditional = true;
                    if !w.starts_with('-') {
                        // a value of an option we do not know
                    } else if !next.starts_with('-') && !next.is_empty() {
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        rules.push((
            format!("-A INPUT {args}"),
            RuleFacts {
                port: port_match,
                conditional,
                not_tcp,
                action,
            },
        ));
    }
    if rules.is_empty() && policy.is_none() {
        return Vec::new();
    }
    vec![decide(&rules, policy, port)]
}

/// Splits iptables-save arguments, keeping `"quoted strings"` whole.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Reads a dump with the parser for its tool.
pub fn read(dump: &Dump, port: u16) -> Vec<PortReading> {
    match dump.tool {
        Tool::Nft => read_nft(&dump.text, port),
        Tool::Iptables | Tool::Ip6tables => read_iptables(&dump.text, port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NFT: &str = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\tiif \"lo\" accept\n\t\ttcp dport { 22, 587 } accept\n\t\ttcp dport 25 counter packets 3 bytes 180 drop\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n";

    #[test]
    fn nft_first_rule_decides() {
        let r = read_nft(NFT, 25);
        assert_eq!(r.len(), 1);
        assert!(r[0].blocked_by.as_deref().unwrap().contains("tcp dport 25"));
        let r = read_nft(NFT, 587);
        assert!(r[0].accepted_by.is_some());
        assert!(r[0].blocked_by.is_none());
        let r = read_nft(NFT, 465);
        assert!(r[0].policy_drop.is_some());
        let saddr = "table ip f {\n chain in {\n  type filter hook input priority 0; policy accept;\n  ip saddr 10.0.0.0/8 tcp dport 25 drop\n }\n}\n";
        let r = read_nft(saddr, 25);
        assert_eq!(r[0].partly_blocked_by.len(), 1);
        assert!(r[0].blocked_by.is_none());
        let all = "table ip f {\n chain in {\n  type filter hook input priority 0; policy accept;\n  counter packets 0 bytes 0 reject\n }\n}\n";
        assert!(read_nft(all, 587)[0].blocked_by.is_some());
    }

    #[test]
    fn iptables_rules_and_policy() {
        let dump = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 25 -j DROP\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp -m multiport --dports 25,465 -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 587 -j REJECT --reject-with tcp-reset\nCOMMIT\n";
        let r = read_iptables(dump, 25);
        assert!(r[0].accepted_by.is_some());
        let r = read_iptables(dump, 587);
        assert!(r[0].blocked_by.as_deref().unwrap().contains("--dport 587"));
        let r = read_iptables(dump, 22);
        assert_eq!(r[0].policy_drop.as_deref(), Some("INPUT policy DROP"));
        assert!(read_iptables("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", 25).is_empty());
    }

    #[test]
    fn port_lists() {
        assert!(port_in("{ 22, 25 }", 25));
        assert!(port_in("20-30", 25));
        assert!(port_in("20:30", 25));
        assert!(port_in("smtp", 25));
        assert!(!port_in("2525", 25));
    }
}
