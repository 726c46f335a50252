//! Variable assignments in a file that a shell sources, such as /etc/default/saslauthd
//! (POSIX sh quoting: '...', "...", backslashes, `$NAME` and `${NAME}` expansion).

use std::collections::BTreeMap;

/// One `NAME=value` assignment, with the value as the shell would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub name: String,
    pub value: String,
    /// 1-based line where the assignment starts.
    pub line: usize,
}

/// All assignments, in order; lines that are not assignments (commands, `if`, ...) are skipped.
/// `$NAME` refers to earlier assignments in the same file (unknown names expand to nothing).
pub fn parse(text: &str) -> Vec<Assignment> {
    let chars: Vec<char> = text.chars().collect();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_whitespace() || c == ';' {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        // `export NAME=...` and `readonly NAME=...` assign too.
        for kw in ["export ", "readonly "] {
            let kwc: Vec<char> = kw.chars().collect();
            if chars[i..].starts_with(&kwc) {
                i += kwc.len();
                while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                    i += 1;
                }
            }
        }
        let start_line = line;
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let is_name = j > i && !chars[i].is_ascii_digit();
        if is_name && j < chars.len() && chars[j] == '=' {
            let name: String = chars[i..j].iter().collect();
            let (value, next, lines) = word(&chars, j + 1, &vars);
            line += lines;
            vars.insert(name.clone(), value.clone());
            out.push(Assignment {
                name,
                value,
                line: start_line,
            });
            i = next;
            continue;
        }
        // Not an assignment: skip the rest of this line.
        while i < chars.len() && chars[i] != '\n' {
            i += 1;
        }
    }
    out
}

/// Reads one shell word starting at `i`; returns (value, index after it, newlines consumed).
fn word(chars: &[char], mut i: usize, vars: &BTreeMap<String, String>) -> (String, usize, usize) {
    let mut out = String::new();
    let mut lines = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() || c == ';' => break,
            '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\n' {
                        lines += 1;
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    match chars[i] {
                        '\\' if i + 1 < chars.len()
                            && matches!(chars[i + 1], '$' | '`' | '"' | '\\' | '\n') =>
                        {
                            if chars[i + 1] == '\n' {
                                lines += 1;
                            } else {
                                out.push(chars[i + 1]);
                            }
                            i += 2;
                        }
                        '$' => {
                            let (v, next) = expand(chars, i, vars);
                            out.push_str(&v);
                            i = next;
                        }
                        ch => {
                            if ch == '\n' {
                                lines += 1;
                            }
                            out.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '\\' => {
                if i + 1 < chars.len() {
                    if chars[i + 1] == '\n' {
                        lines += 1;
                    } else {
                        out.push(chars[i + 1]);
                    }
                }
                i += 2;
            }
            '$' => {
                let (v, next) = expand(chars, i, vars);
                out.push_str(&v);
                i = next;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    (out, i.min(chars.len()), lines)
}

/// Expands `$NAME` or `${NAME}` at `i` (which holds `$`); a lone `$` stays as it is.
fn expand(chars: &[char], i: usize, vars: &BTreeMap<String, String>) -> (String, usize) {
    let ident = |k: usize| k < chars.len() && (chars[k].is_ascii_alphanumeric() || chars[k] == '_');
    if i + 1 < chars.len() && chars[i + 1] == '{' {
        let mut k = i + 2;
        while k < chars.len() && chars[k] != '}' {
            k += 1;
        }
        let inner: String = chars[i + 2..k.min(chars.len())].iter().collect();
        // `${NAME:-default}` and friends: only the name is honoured, enough for these files.
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        return (vars.get(&name).cloned().unwrap_or_default(), k + 1);
    }
    let mut k = i + 1;
    while ident(k) {
        k += 1;
    }
    if k == i + 1 {
        return ("$".to_string(), i + 1);
    }
    let name: String = chars[i + 1..k].iter().collect();
    (vars.get(&name).cloned().unwrap_or_default(), k)
}

/// The last assignment of `name` (later assignments win, as when the shell sources the file).
pub fn last<'a>(assignments: &'a [Assignment], name: &str) -> Option<&'a Assignment> {
    assignments.iter().rev().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_default_file() {
        let text = "# Settings\nSTART=no\nDESC=\"SASL Authentication Daemon\"\nOPTIONS=\"-c -m /var/run/saslauthd\"\n\
                    START=yes\nDIR='/var/spool/postfix'\nOPTIONS=\"-c -r -m ${DIR}/var/run/saslauthd\" # comment\n";
        let a = parse(text);
        assert_eq!(last(&a, "START").map(|a| a.value.as_str()), Some("yes"));
        assert_eq!(last(&a, "START").map(|a| a.line), Some(5));
        assert_eq!(
            last(&a, "OPTIONS").map(|a| a.value.as_str()),
            Some("-c -r -m /var/spool/postfix/var/run/saslauthd")
        );
        assert_eq!(
            last(&a, "DESC").map(|a| a.value.as_str()),
            Some("SASL Authentication Daemon")
        );
    }

    #[test]
    fn commands_quotes_and_continuations() {
        let text = "if [ -x /x ]; then\n  export START=\"y\"es\nfi\nOPTIONS=\"-c \\\n -r\"\nX=a\\ b $Y\nZ=$START\n";
        let a = parse(text);
        assert_eq!(last(&a, "START").map(|a| a.value.as_str()), Some("yes"));
        assert_eq!(
            last(&a, "OPTIONS").map(|a| a.value.as_str()),
            Some("-c  -r")
        );
        assert_eq!(last(&a, "X").map(|a| a.value.as_str()), Some("a b"));
        assert_eq!(last(&a, "Z").map(|a| a.value.as_str()), Some("yes"));
        assert_eq!(last(&a, "Z").map(|a| a.line), Some(7));
    }
}
