//! Streaming iterators built from paged reads, so memory stays bounded by one page.

use crate::error::Result;
use crate::store::{Page, PageRequest};

/// A boxed, fallible stream of rows. An error is yielded once and ends the stream.
pub type BoxIter<'a, T> = Box<dyn Iterator<Item = Result<T>> + Send + 'a>;

type Fetch<'a, T> = Box<dyn FnMut(&PageRequest) -> Result<Page<T>> + Send + 'a>;

/// Iterates over every row of a paged query, holding at most one page in memory.
pub struct PagedIter<'a, T> {
    fetch: Fetch<'a, T>,
    buffered: std::vec::IntoIter<T>,
    next_token: Option<String>,
    page_size: u32,
}

impl<'a, T> PagedIter<'a, T> {
    /// Streams the pages that `fetch` returns, `page_size` rows at a time.
    pub fn new(
        page_size: u32,
        fetch: impl FnMut(&PageRequest) -> Result<Page<T>> + Send + 'a,
    ) -> Self {
        PagedIter {
            fetch: Box::new(fetch),
            buffered: Vec::new().into_iter(),
            next_token: Some(String::new()),
            page_size,
        }
    }
}

impl<T> Iterator for PagedIter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(row) = self.buffered.next() {
                return Some(Ok(row));
            }
            let token = self.next_token.take()?;
            match (self.fetch)(&PageRequest::after(self.page_size, token)) {
                Ok(page) => {
                    self.buffered = page.items.into_iter();
                    if !page.next_page_token.is_empty() {
                        self.next_token = Some(page.next_page_token);
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
