//! Kafka's `sasl.jaas.config` value: one JAAS login module with its options.
//!
//! Grammar (as Kafka's `JaasConfig` reads it):
//! `<LoginModuleClass> <required|requisite|sufficient|optional> (<key>=<value>)* ;`
//! where a value is a double-quoted string (`\"`, `\\`, `\n`, `\t`, `\r` escapes) or a bare
//! token, and `//…` / `/*…*/` comments are skipped. `sasl.jaas.config` must hold exactly one
//! module. Pure: no I/O.
//!
//! Option values hold passwords (`password="…"`, the broker's `user_<name>="…"` table), so
//! neither errors nor `Debug` ever show a value: errors give the byte position and what
//! was expected, `Debug` lists option keys only.

use std::collections::BTreeMap;
use std::fmt;

use super::password::Password;

/// The JAAS control flag of a login module (has no effect for SASL; kept for fidelity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// One parsed login module.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasConfig {
    /// The login module class, e.g. `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub login_module: String,
    pub flag: ControlFlag,
    options: BTreeMap<String, Password>,
}

/// What went wrong, and where (byte offset into the value). Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JaasError {
    #[error("the JAAS configuration is empty (expected `<LoginModule> required key=\"value\" …;`)")]
    Empty,
    #[error("JAAS configuration must contain exactly one login module, found {0}")]
    ModuleCount(usize),
    #[error("invalid JAAS configuration at position {position}: expected {expected}")]
    Expected { position: usize, expected: &'static str },
    #[error("invalid JAAS configuration at position {position}: unterminated quoted value")]
    UnterminatedQuote { position: usize },
    #[error("invalid JAAS configuration at position {position}: unterminated comment")]
    UnterminatedComment { position: usize },
    #[error("invalid JAAS configuration: option `{0}` is given twice")]
    DuplicateOption(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

impl JaasConfig {
    /// Parses a `sasl.jaas.config` value holding exactly one login module.
    pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
        let modules = parse_modules(text)?;
        let count = modules.len();
        match <[JaasConfig; 1]>::try_from(modules) {
            Ok([one]) => Ok(one),
            Err(_) if count == 0 => Err(JaasError::Empty),
            Err(_) => Err(JaasError::ModuleCount(count)),
        }
    }

    /// The value of option `key`.
    pub fn option(&self, key: &str) -> Option<&Password> {
        self.options.get(key)
    }

    /// Every option, sorted by key.
    pub fn options(&self) -> impl Iterator<Item = (&str, &Password)> {
        self.options.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The broker's user table of a PLAIN login module: options `user_<name>="<password>"`.
    pub fn plain_users(&self) -> BTreeMap<String, Password> {
        self.options
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("user_").map(|name| (name.to_string(), v.clone())))
            .collect()
    }

    /// The simple class name (after the last `.`), e.g. `PlainLoginModule`.
    pub fn module_simple_name(&self) -> &str {
        self.login_module.rsplit('.').next().unwrap_or(&self.login_module)
    }
}

impl fmt::Debug for JaasConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaasConfig")
            .field("login_module", &self.login_module)
            .field("flag", &self.flag)
            .field("option_keys", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses any number of modules (a JAAS file section body); [`JaasConfig::parse`] wants one.
fn parse_modules(text: &str) -> Result<Vec<JaasConfig>, JaasError> {
    let tokens = tokenize(text)?;
    let mut modules = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (pos, tok) = &tokens[i];
        let login_module = match tok {
            Token::Word(w) => w.clone(),
            _ => return Err(JaasError::Expected { position: *pos, expected: "a login module class name" }),
        };
        i += 1;
        let flag = match tokens.get(i) {
            Some((_, Token::Word(w))) => match w.to_ascii_lowercase().as_str() {
                "required" => ControlFlag::Required,
                "requisite" => ControlFlag::Requisite,
                "sufficient" => ControlFlag::Sufficient,
                "optional" => ControlFlag::Optional,
                _ => {
                    return Err(expected_at(
                        &tokens,
                        i,
                        text,
                        "a control flag (required, requisite, sufficient, optional)",
                    ))
                }
            },
            _ => {
                return Err(expected_at(&tokens, i, text, "a control flag (required, requisite, sufficient, optional)"))
            }
        };
        i += 1;
        let mut options = BTreeMap::new();
        loop {
            match tokens.get(i) {
                Some((_, Token::Semicolon)) => {
                    i += 1;
                    break;
                }
                Some((_, Token::Word(key))) => {
                    let key = key.clone();
                    if !matches!(tokens.get(i + 1), Some((_, Token::Equals))) {
                        return Err(expected_at(&tokens, i + 1, text, "`=` after an option name"));
                    }
                    let value = match tokens.get(i + 2) {
                        Some((_, Token::Word(v) | Token::Quoted(v))) => v.clone(),
                        _ => return Err(expected_at(&tokens, i + 2, text, "an option value")),
                    };
                    if options.insert(key.clone(), Password::new(value)).is_some() {
                        return Err(JaasError::DuplicateOption(key));
                    }
                    i += 3;
                }
                _ => return Err(expected_at(&tokens, i, text, "an option `key=value` or the closing `;`")),
            }
        }
        modules.push(JaasConfig { login_module, flag, options });
    }
    Ok(modules)
}

fn expected_at(tokens: &[(usize, Token)], i: usize, text: &str, expected: &'static str) -> JaasError {
    let position = tokens.get(i).map_or(text.len(), |(p, _)| *p);
    JaasError::Expected { position, expected }
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, '=' | ';' | '"')
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, JaasError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            tokens.push((pos, Token::Equals));
        } else if c == ';' {
            chars.next();
            tokens.push((pos, Token::Semicolon));
        } else if c == '"' {
            chars.next();
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, other)) => value.push(other),
                        None => break,
                    },
                    other => value.push(other),
                }
            }
            if !closed {
                return Err(JaasError::UnterminatedQuote { position: pos });
            }
            tokens.push((pos, Token::Quoted(value)));
        } else if c == '/' && text[pos..].starts_with("//") {
            while let Some(&(_, c)) = chars.peek() {
                if c == '\n' {
                    break;
                }
                chars.next();
            }
        } else if c == '/' && text[pos..].starts_with("/*") {
            let Some(end) = text[pos + 2..].find("*/") else {
                return Err(JaasError::UnterminatedComment { position: pos });
            };
            let stop = pos + 2 + end + 2;
            while chars.peek().is_some_and(|&(p, _)| p < stop) {
                chars.next();
            }
        } else {
            let mut word = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if is_special(c) {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push((pos, Token::Word(word)));
        }
    }
    Ok(tokens)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PLAIN: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

    #[test]
    fn parses_a_broker_plain_module_with_users() {
        let text = format!(
            "{PLAIN} required username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"al\\\"ice\";"
        );
        let cfg = JaasConfig::parse(&text).unwrap();
        assert_eq!(cfg.login_module, PLAIN);
        assert_eq!(cfg.module_simple_name(), "PlainLoginModule");
        assert_eq!(cfg.flag, ControlFlag::Required);
        assert_eq!(cfg.option("username").unwrap().expose(), "admin");
        let users = cfg.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"].expose(), "al\"ice");
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("secret") && !debug.contains("al\\\""), "{debug}");
    }

    #[test]
    fn bare_values_comments_and_flags() {
        let cfg = JaasConfig::parse("a.B OPTIONAL /* c */ k=v // rest\n k2 = \"x y\" ;").unwrap();
        assert_eq!(cfg.flag, ControlFlag::Optional);
        assert_eq!(cfg.option("k").unwrap().expose(), "v");
        assert_eq!(cfg.option("k2").unwrap().expose(), "x y");
    }

    #[test]
    fn errors_name_position_and_never_the_value() {
        let cases = [
            ("", JaasError::Empty),
            ("a.B required password=\"s3cret", JaasError::UnterminatedQuote { position: 22 }),
            (
                "a.B required password \"s3cret\";",
                JaasError::Expected { position: 22, expected: "`=` after an option name" },
            ),
            (
                "a.B s3cret;",
                JaasError::Expected {
                    position: 4,
                    expected: "a control flag (required, requisite, sufficient, optional)",
                },
            ),
            (
                "a.B required password=\"s3cret\"",
                JaasError::Expected { position: 30, expected: "an option `key=value` or the closing `;`" },
            ),
            ("a.B required; c.D required;", JaasError::ModuleCount(2)),
            ("a.B required k=1 k=2;", JaasError::DuplicateOption("k".into())),
            ("a.B required k=;", JaasError::Expected { position: 15, expected: "an option value" }),
        ];
        for (text, want) in cases {
            let err = JaasConfig::parse(text).unwrap_err();
            assert_eq!(err, want, "{text}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,80}") {
            let _ = JaasConfig::parse(&text);
        }
    }
}
