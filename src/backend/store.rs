//! The cachescope store as a backend: every call goes to [`Store`], the format's own SQL.

use super::{
    Backend, Cell, Dimension, EntryDetail, EntryFilter, EntryId, EntryRow, ErrorRow, PurgeOutcome,
    PurgePlan, PurgeProgress, Resolve, SortKey, SourceId, SourceRow, StatusesLoaded,
    StrategyCounts,
};
use crate::status::Status;
use crate::store::{Result, Store};
use std::path::{Path, PathBuf};

impl Backend for Store {
    fn kind(&self) -> &'static str {
        "cachescope store"
    }

    fn path(&self) -> &Path {
        Store::path(self)
    }

    fn base_dir(&self) -> PathBuf {
        Store::base_dir(self)
    }

    fn is_read_only(&self) -> bool {
        Store::is_read_only(self)
    }

    fn warnings(&self) -> &[String] {
        Store::warnings(self)
    }

    fn change_token(&self) -> Result<i64> {
        self.data_version()
    }

    fn check_same(&self) -> Result<()> {
        self.check_same_file()
    }

    fn is_immutable(&self) -> bool {
        Store::is_immutable(self)
    }

    fn reopen_read_only(&self) -> Result<Box<dyn Backend>> {
        Ok(Box::new(Store::reopen_read_only(self)?))
    }

    fn ids_survive_reopen(&self) -> bool {
        true
    }

    fn referenced_sources(&self) -> Result<Vec<SourceRow>> {
        Store::referenced_sources(self)
    }

    fn visit_referenced_sources(&self, visit: &mut dyn FnMut(SourceRow)) -> Result<()> {
        Store::visit_referenced_sources(self, visit)
    }

    fn sources_by_id<'a>(
        &'a self,
        ids: &'a [SourceId],
    ) -> Result<Box<dyn Iterator<Item = Result<Option<SourceRow>>> + 'a>> {
        Ok(Box::new(Store::sources_by_id(self, ids)?))
    }

    fn referenced_sources_bound(&self) -> Result<u64> {
        Store::source_row_count(self)
    }

    fn dangling_source_ids(&self) -> Result<Vec<SourceId>> {
        Store::dangling_source_ids(self)
    }

    fn load_statuses(
        &self,
        statuses: &mut dyn Iterator<Item = (SourceId, Status)>,
    ) -> Result<StatusesLoaded> {
        self.load_source_statuses(statuses)
    }

    fn aggregate(&self, dimension: Dimension, visit: &mut dyn FnMut(Cell)) -> Result<()> {
        Store::aggregate(self, dimension, visit)
    }

    fn strategy_totals(&self) -> Result<StrategyCounts> {
        Store::strategy_totals(self)
    }

    fn aggregate_then_errors(
        &self,
        errors: &mut dyn FnMut() -> Result<Vec<ErrorRow>>,
        visit: &mut dyn FnMut(Cell),
    ) -> Result<Vec<ErrorRow>> {
        Store::aggregate_then_errors(self, errors, visit)
    }

    fn aggregate_resolved(
        &self,
        dimension: Dimension,
        errors: Option<&mut dyn FnMut() -> Result<Vec<ErrorRow>>>,
        resolve: Resolve<'_>,
        visit: &mut dyn FnMut(Cell),
    ) -> Result<Option<Vec<ErrorRow>>> {
        Store::aggregate_resolved(self, dimension, errors, resolve, visit)
    }

    fn derivation_errors(&self) -> Result<Vec<ErrorRow>> {
        Store::derivation_errors(self)
    }

    fn expired_counts(&self, now_ms: i64) -> Result<Vec<(String, u64, u64)>> {
        Store::expired_counts(self, now_ms)
    }

    fn errors_and_expired(&self, now_ms: i64) -> Result<(Vec<ErrorRow>, StrategyCounts)> {
        Store::errors_and_expired(self, now_ms)
    }

    fn count(&self, filter: &EntryFilter) -> Result<(u64, u64)> {
        Store::count(self, filter)
    }

    fn select_list(&self, filter: &EntryFilter, sort: SortKey, descending: bool) -> Result<u64> {
        Store::select_list(self, filter, sort, descending)
    }

    fn list_page(&self, start: u64, n: usize) -> Result<Vec<EntryId>> {
        Store::list_page(self, start, n)
    }

    fn list_position(&self, id: EntryId) -> Result<Option<u64>> {
        Store::list_position(self, id)
    }

    fn entries_by_ids(
        &self,
        ids: &[EntryId],
        statuses: Option<StatusesLoaded>,
    ) -> Result<Vec<EntryRow>> {
        Store::entries_by_ids(self, ids, statuses)
    }

    fn entries_page(
        &self,
        filter: &EntryFilter,
        statuses: Option<StatusesLoaded>,
        after: Option<EntryId>,
        limit: i64,
    ) -> Result<Vec<EntryRow>> {
        Store::entries_page(self, filter, statuses, after, limit)
    }

    fn entry_detail(&self, id: EntryId, preview: usize) -> Result<Option<EntryDetail>> {
        Store::entry_detail(self, id, preview)
    }

    fn purge(
        &self,
        plan: &PurgePlan,
        progress: &mut dyn FnMut(PurgeProgress),
    ) -> Result<PurgeOutcome> {
        Store::purge(self, plan, progress)
    }
}
