//! The console's accounts pages in a browser (filled by their issue-21 part).
