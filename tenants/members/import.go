package members

import (
	"context"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"jifen/pkg/ids"
	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/platform/storage"
)

// OpenAPIImport describes POST /members/import; main merges it with the
// other fragments.
//
//go:embed openapi_import.json
var OpenAPIImport []byte

// Import limits.
const (
	// importBatchRows is how many rows share one transaction, so a large
	// file never holds one long transaction and its locks.
	importBatchRows = 500
	// maxImportErrors caps the problems listed in one answer; a file that is
	// wrong throughout would otherwise make the answer as large as the file.
	maxImportErrors = 1000
)

// importColumns are the columns a member file may have; external_id is
// required, the others optional, in any order.
var importColumns = []string{"external_id", "name", "phone", "birthday"}

// ImportResult says what an import did. Rows are counted once each: a row
// is created, updated, unchanged or failed.
type ImportResult struct {
	Created         int           `json:"created"`
	Updated         int           `json:"updated"`
	Unchanged       int           `json:"unchanged"`
	Failed          int           `json:"failed"`
	Errors          []ImportError `json:"errors"`
	ErrorsTruncated bool          `json:"errors_truncated"`
}

// ImportError is one problem with one row of an imported file. Line is the
// file's line number (the header is line 1); Field is the column, or ""
// when the whole row is wrong.
type ImportError struct {
	Line    int    `json:"line"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (r *ImportResult) addError(e ImportError) {
	if len(r.Errors) >= maxImportErrors {
		r.ErrorsTruncated = true
		return
	}
	r.Errors = append(r.Errors, e)
}

// importRow is one valid row waiting for its batch.
type importRow struct {
	line int
	in   Input // nil fields: column absent or cell empty
}

// ImportMembers reads a CSV file of members (UTF-8, header row naming
// external_id and any of name, phone, birthday) and creates the members
// that are new. A member whose external_id exists already is updated with
// the row's non-empty cells when they differ and counted unchanged when
// they don't, so importing the same file twice changes nothing; an empty
// cell never clears a value. Each row is validated as CreateMember would,
// and every bad row is reported with its line number without stopping the
// import. Rows are written in batches of importBatchRows, one transaction
// each, while the file is read, so memory stays small however large the
// file; when reading fails midway the batches written so far stay.
// It returns validation_failed when the header is wrong.
func (s *Service) ImportMembers(ctx context.Context, body io.Reader) (ImportResult, error) {
	res := ImportResult{Errors: []ImportError{}}
	r := csv.NewReader(body)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	cols, err := readImportHeader(r)
	if err != nil {
		return res, err
	}
	batch := make([]importRow, 0, importBatchRows)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			res.Failed++
			res.addError(ImportError{Line: pe.StartLine, Message: "the row is not valid CSV: " + pe.Err.Error()})
			continue
		}
		if err != nil {
			return res, err
		}
		line, _ := r.FieldPos(0)
		row, rowErrs := s.parseImportRow(cols, rec, line)
		if len(rowErrs) > 0 {
			res.Failed++
			for _, e := range rowErrs {
				res.addError(e)
			}
			continue
		}
		batch = append(batch, row)
		if len(batch) == importBatchRows {
			if err := s.importBatch(ctx, batch, &res); err != nil {
				return res, err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := s.importBatch(ctx, batch, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// readImportHeader reads the header row and returns the column of each
// field, in file order.
func readImportHeader(r *csv.Reader) ([]string, error) {
	headerErr := func(msg string) error {
		return (&platform.Error{Code: platform.EValidation,
			Message: "The first line must be a header naming the columns external_id, name, phone, birthday."}).
			WithDetails(map[string]any{"header": msg})
	}
	rec, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, headerErr("the file is empty")
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, headerErr("line 1 is not valid CSV: " + pe.Err.Error())
	}
	if err != nil {
		return nil, err
	}
	cols := make([]string, len(rec))
	seen := map[string]bool{}
	for i, h := range rec {
		if i == 0 {
			// Spreadsheets often save UTF-8 with a byte-order mark.
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.ToLower(strings.TrimSpace(h))
		known := false
		for _, c := range importColumns {
			known = known || c == h
		}
		switch {
		case !known:
			return nil, headerErr(fmt.Sprintf("unknown column %q; the columns are external_id, name, phone, birthday", h))
		case seen[h]:
			return nil, headerErr(fmt.Sprintf("column %q appears twice", h))
		}
		seen[h] = true
		cols[i] = h
	}
	if !seen["external_id"] {
		return nil, headerErr("the external_id column is required")
	}
	return cols, nil
}

// parseImportRow turns a record into an Input and validates it as
// CreateMember does.
func (s *Service) parseImportRow(cols, rec []string, line int) (importRow, []ImportError) {
	if len(rec) != len(cols) {
		return importRow{}, []ImportError{{Line: line,
			Message: fmt.Sprintf("the row has %d fields; the header has %d", len(rec), len(cols))}}
	}
	var errs []ImportError
	row := importRow{line: line}
	for i, col := range cols {
		v := strings.TrimSpace(rec[i])
		if !utf8.ValidString(v) {
			errs = append(errs, ImportError{Line: line, Field: col, Message: "is not valid UTF-8; save the file as CSV UTF-8"})
			continue
		}
		if v == "" && col != "external_id" {
			continue
		}
		p := &v
		switch col {
		case "external_id":
			row.in.ExternalID = p
		case "name":
			row.in.Name = p
		case "phone":
			row.in.Phone = p
		case "birthday":
			row.in.Birthday = p
		}
	}
	if len(errs) > 0 {
		return importRow{}, errs
	}
	if err := s.validate(row.in, true); err != nil {
		var ae *platform.Error
		if errors.As(err, &ae) {
			for field, msg := range ae.Details {
				errs = append(errs, ImportError{Line: line, Field: field, Message: fmt.Sprint(msg)})
			}
			sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
		}
		return importRow{}, errs
	}
	return row, nil
}

// importBatch writes one batch of valid rows in one transaction and adds
// its outcome to res only once the transaction has committed (a retried
// transaction starts its counts afresh).
func (s *Service) importBatch(ctx context.Context, rows []importRow, res *ImportResult) error {
	var out ImportResult
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		out = ImportResult{}
		exts := make([]string, 0, len(rows))
		for _, row := range rows {
			exts = append(exts, str(row.in.ExternalID))
		}
		existing, err := s.Store.lockMembersByExternalID(ctx, exts)
		if err != nil {
			return err
		}
		now := s.Clock.Now()
		for _, row := range rows {
			ext := str(row.in.ExternalID)
			m, ok := existing[ext]
			switch {
			case !ok:
				m = Member{TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), ExternalID: ext,
					Name: str(row.in.Name), Phone: str(row.in.Phone), Birthday: str(row.in.Birthday),
					CreatedAt: now, UpdatedAt: now}
				if err := s.Store.CreateMember(ctx, &m); err != nil {
					if !platform.IsCode(err, platform.EConflict) {
						return err
					}
					// Created by someone else since the batch was read.
					out.Failed++
					out.Errors = append(out.Errors, ImportError{Line: row.line, Field: "external_id",
						Message: "a member with this external_id was created meanwhile; import the file again"})
					continue
				}
				existing[ext] = m
				out.Created++
			case m.ErasedAt != nil:
				out.Failed++
				out.Errors = append(out.Errors, ImportError{Line: row.line, Field: "external_id",
					Message: "this member's personal data was erased; the row was not imported"})
			default:
				if !applyImportRow(&m, row.in) {
					out.Unchanged++
					continue
				}
				m.UpdatedAt = now
				if err := s.Store.UpdateMember(ctx, &m); err != nil {
					return err
				}
				existing[ext] = m
				out.Updated++
			}
		}
		if s.Audit != nil && out.Created+out.Updated > 0 {
			return s.Audit.Record(ctx, "member.import", "member", "",
				map[string]any{"created": out.Created, "updated": out.Updated, "unchanged": out.Unchanged})
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Created += out.Created
	res.Updated += out.Updated
	res.Unchanged += out.Unchanged
	res.Failed += out.Failed
	for _, e := range out.Errors {
		res.addError(e)
	}
	return nil
}

// applyImportRow copies the row's non-empty fields into m and reports
// whether anything changed.
func applyImportRow(m *Member, in Input) bool {
	changed := false
	set := func(dst *string, p *string) {
		if p != nil && str(p) != *dst {
			*dst = str(p)
			changed = true
		}
	}
	set(&m.Name, in.Name)
	set(&m.Phone, in.Phone)
	set(&m.Birthday, in.Birthday)
	return changed
}

// lockMembersByExternalID returns the tenant's members with these external
// ids, keyed by external id, locked for update on MySQL so a concurrent
// edit can't be lost between the comparison and the write.
func (s *Store) lockMembersByExternalID(ctx context.Context, exts []string) (map[string]Member, error) {
	var list []Member
	err := s.DB.ForUpdate(s.DB.Scoped(ctx).Where("external_id IN ?", exts)).Find(&list).Error
	if err != nil {
		return nil, storage.Translate(err, "member")
	}
	out := make(map[string]Member, len(list))
	for _, m := range list {
		out[m.ExternalID] = m
	}
	return out, nil
}

// importCSV serves POST /members/import: the body is the CSV file itself.
func (h handler) importCSV(c *gin.Context) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "text/csv" {
		httpx.Error(c, platform.Errorf(platform.EUnsupportedMedia,
			"Send the file as the request body with Content-Type: text/csv."))
		return
	}
	res, err := h.svc.ImportMembers(c.Request.Context(), c.Request.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = platform.Errorf(platform.EPayloadTooLarge,
			"The file is larger than the server accepts (%d bytes); split it, or import it again after the first part: rows already imported come back unchanged.", mbe.Limit)
	}
	httpx.Respond(c, http.StatusOK, res, err)
}
