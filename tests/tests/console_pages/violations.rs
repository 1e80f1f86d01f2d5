//! The console's violations pages in a browser (filled by their issue-21 part).
