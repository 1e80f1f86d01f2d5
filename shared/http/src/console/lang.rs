//! The console's two languages: Chinese (the default: the people who handle complaints read it)
//! and English. A page's words come from [`Lang::t`]; the switch is `?lang=en` / `?lang=zh`,
//! remembered in a cookie.

/// A console language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// `zh` or `en` (the `lang` attribute of the page and the cookie's value).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// A value of the `lang` query parameter or cookie; anything else is none.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The words in this language: `(Chinese, English)`.
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn is_en(self) -> bool {
        self == Lang::En
    }
}
