//! Stand-in until the action forms land: no form for any action.

use super::lang::Lang;
use desk_core::platform::Platforms;

pub struct ActionForm {
    name: &'static str,
}

pub struct FormError {
    pub field: String,
}

impl FormError {
    pub fn message(&self, _lang: Lang) -> String {
        String::new()
    }
}

impl ActionForm {
    pub fn for_action(
        _platforms: &Platforms,
        _platform: domain::complaint::Platform,
        _action: &str,
    ) -> Option<ActionForm> {
        None
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn body(
        &self,
        _values: &[(String, String)],
        _images: Vec<String>,
    ) -> Result<serde_json::Value, FormError> {
        Err(FormError {
            field: String::new(),
        })
    }

    pub fn render(&self, _lang: Lang, _csrf: &str, _post_to: &str) -> String {
        String::new()
    }
}
