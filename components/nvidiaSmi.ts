/**
 * Parser for the text `nvidia-smi` prints, in every shape we meet it in logs: the plain table (old 79-column and new
 * 89/91-column layouts, Linux, WSL2, Windows `nvidia-smi.exe`, inside a pod), `nvidia-smi -L`, the
 * `--query-gpu=... --format=csv` forms (with or without header, any column order, one column, looped with `-l`),
 * `nvidia-smi -q` and `nvidia-smi --version`, alone or mixed in one log. The csv tables of the other queries
 * (`--query-compute-apps`, `--query-retired-pages`, ...) have one row per process or page and are never read as GPUs.
 * Drivers from R610 on label the versions `KMD Version` and `CUDA UMD Version` (the old `Driver Version` and
 * `CUDA Version` labels are marked deprecated in `-q`, `--version` and `--help-query-gpu`); both spellings are read.
 *
 * It has no Pulumi dependency so that it can be unit-tested and reused by preflight checks that only have a log.
 */

/** One physical GPU as `nvidia-smi` reported it. MIG instances are never reported as GPUs of their own. */
export interface NvidiaSmiGpu {
    /** The GPU index `nvidia-smi` uses (`GPU 0`, the `index` csv column). */
    index: number;
    /**
     * Product name. The table truncates long names (`Tesla V100-SXM2...`); a name from `-L`, csv or `-q` replaces a
     * truncated one when the log has both. Empty when no source in the log printed a name.
     */
    name: string;
    /** `GPU-...` UUID, or null when the log only has the table (which never prints it). */
    uuid: string | null;
    /** Total framebuffer memory in MiB, or null when not printed or `N/A`. */
    memoryTotalMiB: number | null;
    /** PCI bus id in the form the csv query prints: 8-digit domain, upper-case hex (`00000000:3B:00.0`). */
    busId: string | null;
}

/** Everything {@link parseNvidiaSmi} could learn from a log. Fields are null when the log does not say. */
export interface NvidiaSmiReport {
    /** Driver version (on WSL2 this is the Windows driver, which differs from the `NVIDIA-SMI` version). */
    driverVersion: string | null;
    /** Highest CUDA version the driver supports, as the table header or `-q` print it. */
    cudaVersion: string | null;
    /** GPUs sorted by index, each merged from every output in the log that mentioned it. */
    gpus: NvidiaSmiGpu[];
    /**
     * Why a version stayed null, or the GPU list empty, although the log had text that looked like it: a banner or csv
     * header whose labels this parser does not know, or a version field holding something that is not a version
     * (`ERR!`, `[Requested functionality has been deprecated]`). One sentence each; empty when nothing was skipped.
     * Unknown labels are never guessed at: a wrong driver version would be worse than none.
     */
    notes: string[];
}

/**
 * Only this many leading characters of the input are parsed. nvidia-smi output is a few KiB even on 8-GPU hosts, and
 * pod logs print it first; a cap keeps a runaway log from stalling the deployment.
 */
export const NVIDIA_SMI_MAX_INPUT_CHARS = 4 * 1024 * 1024;

// nvidia-smi prints no table, -L or -q line this long; skipping longer ones bounds the work every regex below can do.
const MAX_LINE_CHARS = 1024;
// A csv query of every --query-gpu field is one 7.6 KiB header line of 241 columns (R610); leave room to grow.
const MAX_CSV_LINE_CHARS = 64 * 1024;
const MAX_CSV_FIELDS = 2048;
// Guards against a log that repeats "GPU n:" lines with ever-growing indices.
const MAX_GPU_INDEX = 1023;
// Notes are read by people; a log full of odd banners must not become a wall of them.
const MAX_NOTES = 8;
const MAX_QUOTE_CHARS = 160;
const MAX_QUOTED_LABELS = 4;

// A later source only replaces a field when it is more specific; ties keep the first value seen.
const RANK_TRUNCATED = 1;
const RANK_TABLE = 2;
const RANK_EXACT = 3;

interface Ranked<T> {
    value: T;
    rank: number;
}

interface GpuFacts {
    index: number;
    name: Ranked<string> | null;
    uuid: Ranked<string> | null;
    memoryTotalMiB: Ranked<number> | null;
    busId: Ranked<string> | null;
}

/** A GPU block from `nvidia-smi -q`, which prints bus ids but no indices. */
interface QueryBlock {
    ordinal: number;
    busId: string | null;
    name: string | null;
    uuid: string | null;
    memoryTotalMiB: number | null;
}

interface CsvResult {
    facts: GpuFacts[];
    driverVersion: string | null;
    /** Why a driver version column held no version. */
    driverNotes: string[];
    /** csv tables skipped because none of their columns is known, or because their rows are not GPUs. */
    gpuNotes: string[];
}

/**
 * Parses any mix of `nvidia-smi` outputs found in `text` and merges what they say per GPU index.
 *
 * Never throws: unknown or damaged text gives `{ driverVersion: null, cudaVersion: null, gpus: [] }`, and a GPU is only
 * reported when a line unmistakably describes one, so errors such as Docker's
 * `could not select device driver "" with capabilities: [[gpu]]` yield no GPUs. Input beyond
 * {@link NVIDIA_SMI_MAX_INPUT_CHARS} is ignored.
 *
 * @param text - Raw log text; LF, CRLF and CR line endings are accepted.
 * @returns The merged report, GPUs sorted by index.
 */
export function parseNvidiaSmi(text: string): NvidiaSmiReport {
    try {
        return parseLines(toLines(text));
    } catch {
        // The callers run this on arbitrary pod and host logs during a deployment; a parser bug must degrade to
        // "nothing recognised" rather than abort the Pulumi program.
        return emptyReport();
    }
}

function emptyReport(): NvidiaSmiReport {
    return { driverVersion: null, cudaVersion: null, gpus: [], notes: [] };
}

function toLines(text: unknown): string[] {
    // Typed as string, but callers may hand over whatever a command output field held.
    if (typeof text !== "string" || text.length === 0) {
        return [];
    }
    return text
        .slice(0, NVIDIA_SMI_MAX_INPUT_CHARS)
        .split(/\r\n|\r|\n/)
        .map((line) => (line.length > MAX_CSV_LINE_CHARS ? "" : line));
}

function parseLines(csvLines: string[]): NvidiaSmiReport {
    const lines = csvLines.map((line) => (line.length > MAX_LINE_CHARS ? "" : line));
    const versions = scanVersions(lines);
    const csv = scanCsv(csvLines);
    const facts = [...scanTables(lines), ...scanLists(lines), ...csv.facts];
    const driverVersion = versions.driverVersion ?? csv.driverVersion;
    const cudaVersion = versions.cudaVersion;
    const gpus = mergeGpus(facts, scanQuery(lines));
    // Notes only explain what stayed unknown: a label that failed on one line but was read on another is no news.
    const notes = [
        ...(driverVersion === null ? [...versions.driverNotes, ...csv.driverNotes] : []),
        ...(cudaVersion === null ? versions.cudaNotes : []),
        ...(gpus.length === 0 ? csv.gpuNotes : []),
    ];
    return { driverVersion, cudaVersion, gpus, notes: [...new Set(notes)].slice(0, MAX_NOTES) };
}

// ---------------------------------------------------------------------------------------------------------------
// Small value helpers

function cleanVersion(raw: string | undefined): string | null {
    // Rejects "N/A" and "ERR!", which WSL2 prints when the Windows driver and the WSL libraries disagree.
    return raw !== undefined && /^\d+(?:\.\d+)*$/.test(raw) ? raw : null;
}

/** Quotes log text in a note, cut so that a huge line cannot flood the stack output. */
function quote(raw: string): string {
    const text = raw.trim();
    return JSON.stringify(text.length > MAX_QUOTE_CHARS ? `${text.slice(0, MAX_QUOTE_CHARS)}...` : text);
}

function nullIfMissing(raw: string): string | null {
    const value = raw.trim();
    // nvidia-smi writes "N/A" in tables and "[N/A]", "[Not Supported]", "[Insufficient Permissions]" in csv.
    if (value === "" || /^n\/a$/i.test(value) || (value.startsWith("[") && value.endsWith("]"))) {
        return null;
    }
    return value;
}

function cleanUuid(raw: string): string | null {
    const value = raw.trim();
    return /^GPU-[0-9A-Za-z-]+$/.test(value) ? value : null;
}

function parseIndex(raw: string): number | null {
    const value = raw.trim();
    if (!/^\d{1,4}$/.test(value)) {
        return null;
    }
    const index = Number(value);
    return index <= MAX_GPU_INDEX ? index : null;
}

function parseMiB(raw: string): number | null {
    const match = /^(\d{1,9})(?:\s*MiB)?$/.exec(raw.trim());
    return match ? Number(match[1]) : null;
}

/**
 * Old tables and some tools print a 4-digit PCI domain and lower-case hex; the csv query always prints 8 upper-case
 * digits. Normalising lets the same GPU seen by two outputs be recognised as one.
 */
function normalizeBusId(raw: string): string | null {
    const match = /^([0-9A-Fa-f]{4,8}):([0-9A-Fa-f]{2}):([0-9A-Fa-f]{2})\.([0-7])$/.exec(raw.trim());
    if (!match) {
        return null;
    }
    const [, domain = "", bus = "", device = "", fn = ""] = match;
    return `${domain.padStart(8, "0")}:${bus}:${device}.${fn}`.toUpperCase();
}

function isTruncatedName(name: string): boolean {
    return name.endsWith("...") || name.endsWith("\u2026");
}

function ranked<T>(value: T | null, rank: number): Ranked<T> | null {
    return value === null ? null : { value, rank };
}

// ---------------------------------------------------------------------------------------------------------------
// Driver and CUDA versions

interface Versions {
    driverVersion: string | null;
    cudaVersion: string | null;
    /** Why a line that offered a driver version gave none. */
    driverNotes: string[];
    /** Why a line that offered a CUDA version gave none. */
    cudaNotes: string[];
}

// Preferred spelling first. R610 prints both in `-q`, where the old one carries a deprecation note.
const DRIVER_LABELS = ["KMD Version", "Driver Version"];
const CUDA_LABELS = ["CUDA UMD Version", "CUDA Version"];

function scanVersions(lines: string[]): Versions {
    const found = noVersions();
    for (const line of lines) {
        const seen = versionsOnLine(line);
        found.driverVersion ??= seen.driverVersion;
        found.cudaVersion ??= seen.cudaVersion;
        found.driverNotes.push(...seen.driverNotes);
        found.cudaNotes.push(...seen.cudaNotes);
        if (found.driverVersion !== null && found.cudaVersion !== null) {
            break;
        }
    }
    return found;
}

function noVersions(): Versions {
    return { driverVersion: null, cudaVersion: null, driverNotes: [], cudaNotes: [] };
}

function versionsOnLine(line: string): Versions {
    // Table banner: "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0 |", from R610
    // "| NVIDIA-SMI 610.43.02   KMD Version: 610.43.02   CUDA UMD Version: 13.3 |". Only read with "NVIDIA-SMI <version>"
    // on the same line, so that unrelated "CUDA Version: x" log lines (PyTorch, nvcc) are not mistaken for the driver's.
    // A line framed like the table ("| NVIDIA-SMI 610.43.02 ... |") is the banner even when it has no "Label:" at all,
    // so that a relabelled or cut banner is reported rather than silently skipped.
    const banner = /NVIDIA-SMI\s+\d[\w.-]*(.*)$/.exec(line);
    if (banner && ((banner[1] ?? "").includes(":") || /^\s*\|\s*NVIDIA-SMI\s/.test(line))) {
        return bannerVersions(banner[1] ?? "", line);
    }
    // `-q` and `--version` pad the key with spaces before the colon ("DRIVER version      : 580.159.04"). R610 appends
    // a note to the old keys in -q ("610.43.02 [Deprecated; ... Use KMD Version instead]") and replaces their value in
    // --version ("Deprecated, see "KMD version" instead"): only a version at the start of the value is taken.
    const keyValue = /^(driver|kmd|cuda umd|cuda) version\s+:\s*(.*)$/i.exec(line.trim());
    if (!keyValue) {
        return noVersions();
    }
    const version = cleanVersion(/^(\S+)(?:\s+\[[^\]]*\])?$/.exec(keyValue[2] ?? "")?.[1]);
    const notes = version === null ? [`nvidia-smi printed ${quote(line)}, which holds no version`] : [];
    return /^(driver|kmd)$/i.test(keyValue[1] ?? "")
        ? { driverVersion: version, cudaVersion: null, driverNotes: notes, cudaNotes: [] }
        : { driverVersion: null, cudaVersion: version, driverNotes: [], cudaNotes: notes };
}

/**
 * Reads the "Label: value" pairs after `NVIDIA-SMI <version>` (`rest` of the banner `line`); labels it does not know
 * are reported, never used.
 */
function bannerVersions(rest: string, line: string): Versions {
    const known = new Map<string, string>();
    const unknown: string[] = [];
    for (const match of rest.matchAll(/([A-Za-z][A-Za-z ]{0,40}?)\s*:\s*([^\s|]*)/g)) {
        const label = (match[1] ?? "").trim().replace(/\s+/g, " ");
        const value = match[2] ?? "";
        const canonical = [...DRIVER_LABELS, ...CUDA_LABELS].find((l) => l.toLowerCase() === label.toLowerCase());
        if (canonical === undefined) {
            unknown.push(`${label}: ${value}`);
        } else if (!known.has(canonical)) {
            known.set(canonical, value);
        }
    }
    const shown = unknown.slice(0, MAX_QUOTED_LABELS).map(quote).join(", ");
    const more = unknown.length > MAX_QUOTED_LABELS ? ` and ${unknown.length - MAX_QUOTED_LABELS} more` : "";
    const strangers =
        unknown.length > 0
            ? `; it has labels this parser does not read: ${shown}${more}`
            : known.size === 0
              ? ` ${quote(line)}, which has no "Label: value" at all`
              : "";
    const driver = pickBannerVersion(known, DRIVER_LABELS, "driver version", strangers);
    const cuda = pickBannerVersion(known, CUDA_LABELS, "CUDA version", strangers);
    return {
        driverVersion: driver.version,
        cudaVersion: cuda.version,
        driverNotes: driver.notes,
        // Drivers before 410 print no CUDA version at all: a missing CUDA label is only news next to unknown labels.
        cudaNotes: cuda.labelled || unknown.length > 0 ? cuda.notes : [],
    };
}

function pickBannerVersion(
    known: Map<string, string>,
    labels: string[],
    what: string,
    strangers: string,
): { version: string | null; labelled: boolean; notes: string[] } {
    const label = labels.find((l) => known.has(l));
    if (label === undefined) {
        return { version: null, labelled: false, notes: [`no ${what} label (${labels.join(" or ")}) in the nvidia-smi banner${strangers}`] };
    }
    const raw = known.get(label) ?? "";
    const version = cleanVersion(raw);
    const notes = version === null ? [`the nvidia-smi banner shows ${label} ${quote(raw)}, which is not a version`] : [];
    return { version, labelled: true, notes };
}

// ---------------------------------------------------------------------------------------------------------------
// The plain `nvidia-smi` table

function scanTables(lines: string[]): GpuFacts[] {
    const facts: GpuFacts[] = [];
    // Rows are only read between the column header and the end of the GPU section, so MIG-device and process rows,
    // which also start with a number, can never become GPUs.
    let inGpuSection = false;
    for (let i = 0; i < lines.length; i++) {
        const line = (lines[i] ?? "").trim();
        if (line.includes("Bus-Id") && line.includes("Name")) {
            inGpuSection = true;
            continue;
        }
        if (!inGpuSection) {
            continue;
        }
        if (line === "" || line.includes("MIG devices:") || line.includes("Processes:")) {
            inGpuSection = false;
            continue;
        }
        const row = parseTableGpuRow(line);
        if (row) {
            row.memoryTotalMiB = ranked(parseTableMemory(lines[i + 1]), RANK_TABLE);
            facts.push(row);
        }
    }
    return facts;
}

function parseTableGpuRow(line: string): GpuFacts | null {
    if (!line.startsWith("|")) {
        return null;
    }
    const cells = line.split("|");
    if (cells.length < 5) {
        return null;
    }
    const head = /^\s*(\d{1,4})\s+(\S.*)$/.exec(cells[1] ?? "");
    const index = head ? parseIndex(head[1] ?? "") : null;
    if (head === null || index === null) {
        return null;
    }
    const name = stripModeColumn((head[2] ?? "").trim());
    const busToken = (cells[2] ?? "").trim().split(/\s+/)[0] ?? "";
    const busId = normalizeBusId(busToken);
    if (!/[A-Za-z]/.test(name) || (busId === null && busToken !== "N/A")) {
        return null;
    }
    return {
        index,
        name: { value: name, rank: isTruncatedName(name) ? RANK_TRUNCATED : RANK_TABLE },
        uuid: null,
        memoryTotalMiB: null,
        busId: ranked(busId, RANK_TABLE),
    };
}

/**
 * The first cell ends with the Persistence-M value on Linux and the TCC/WDDM driver model on Windows
 * (`GeForce RTX 207... WDDM`); neither is part of the name.
 */
function stripModeColumn(cell: string): string {
    const mode = /\s(?:On|Off|WDDM|TCC|MCDM|N\/A)$/.exec(cell);
    return mode ? cell.slice(0, mode.index).trim() : cell;
}

function parseTableMemory(line: string | undefined): number | null {
    const trimmed = (line ?? "").trim();
    if (!trimmed.startsWith("|")) {
        return null;
    }
    const match = /(\d{1,9})\s*MiB\s*\/\s*(\d{1,9})\s*MiB/.exec(trimmed.split("|")[2] ?? "");
    return match ? Number(match[2]) : null;
}

// ---------------------------------------------------------------------------------------------------------------
// `nvidia-smi -L`

function scanLists(lines: string[]): GpuFacts[] {
    const facts: GpuFacts[] = [];
    for (const line of lines) {
        // MIG lines ("  MIG 1g.10gb Device 0: (UUID: MIG-...)") start with "MIG", so they are skipped here: they are
        // slices of the GPU line above them, not GPUs.
        const fact = parseListLine(line.trim());
        if (fact) {
            facts.push(fact);
        }
    }
    return facts;
}

function parseListLine(line: string): GpuFacts | null {
    const marker = " (UUID: ";
    const at = line.lastIndexOf(marker);
    if (!line.startsWith("GPU ") || at < 0 || !line.endsWith(")")) {
        return null;
    }
    const head = line.slice("GPU ".length, at);
    const colon = head.indexOf(": ");
    const index = colon > 0 ? parseIndex(head.slice(0, colon)) : null;
    const name = head.slice(colon + 2).trim();
    if (index === null || name === "") {
        return null;
    }
    return {
        index,
        name: { value: name, rank: RANK_EXACT },
        uuid: ranked(cleanUuid(line.slice(at + marker.length, -1)), RANK_EXACT),
        memoryTotalMiB: null,
        busId: null,
    };
}

// ---------------------------------------------------------------------------------------------------------------
// `--query-gpu=... --format=csv[,noheader][,nounits]`

// Column order of the query our pod runs; used for `noheader` output, which does not say what its columns are.
const DEFAULT_CSV_COLUMNS = ["index", "name", "uuid", "driver_version", "memory.total", "pci.bus_id"];
const GPU_IDENTITY_COLUMNS = ["index", "name", "uuid", "pci.bus_id"];
// `kmd_version` is R610's name for the deprecated (but still answered) `driver_version`.
const DRIVER_COLUMNS = ["kmd_version", "driver_version"];
const KNOWN_CSV_COLUMNS = [...GPU_IDENTITY_COLUMNS, "memory.total", ...DRIVER_COLUMNS];
// `--query-gpu` prints the canonical column names even when asked for their `gpu_name`, `gpu_uuid`, `gpu_bus_id`
// aliases (h200c-580-query-aliases-noindex.csv). Those names are printed by the other csv queries, whose rows are one
// per process (`--query-compute-apps`, `--query-accounted-apps`), retired page, clock or remapped row, so a GPU shows up
// in as many rows as it has processes (rtx2080s-610.57.04-query-compute-apps.csv): such a table never lists GPUs.
const NOT_PER_GPU_COLUMNS = ["gpu_name", "gpu_uuid", "gpu_bus_id", "gpu_serial", "pid", "process_name"];
// A query of one field prints lines without a comma (h200e-580-query-driver-version-only.csv). Only fields whose every
// value can be checked are read that way: a lone "name" line over any text would otherwise make up a GPU.
const ONE_COLUMN_HEADERS = [...DRIVER_COLUMNS, "uuid"];

interface CsvHeader {
    /** Column names without units (`memory.total`), in the order of the header. */
    columns: string[];
    /** The header as printed, for notes. */
    printed: string;
    /**
     * `gpus`: a `--query-gpu` table with a column this parser reads. `unknown`: no such column. `not-gpus`: a table of
     * processes, retired pages or clocks. Rows are only read under `gpus`.
     */
    kind: "gpus" | "unknown" | "not-gpus";
    noted: boolean;
}

function scanCsv(lines: string[]): CsvResult {
    const result: CsvResult = { facts: [], driverVersion: null, driverNotes: [], gpuNotes: [] };
    let header: CsvHeader | null = null;
    let block = new CsvBlock();
    for (const line of lines) {
        const fields = csvFields(line, header);
        if (fields === null || fields.length > MAX_CSV_FIELDS) {
            header = null;
            continue;
        }
        const columns = parseCsvHeader(fields);
        if (columns) {
            header = columns;
            block = new CsvBlock();
            continue;
        }
        if (header && header.kind !== "gpus" && header.columns.length === fields.length) {
            // Any reading of this row as a GPU would be a guess (unknown columns) or wrong (a process): say so instead.
            if (!header.noted) {
                result.gpuNotes.push(
                    header.kind === "unknown"
                        ? `a csv table with the columns ${quote(header.printed)} has none this parser reads ` +
                              `(${KNOWN_CSV_COLUMNS.join(", ")}); its rows were not read`
                        : `a csv table with the columns ${quote(header.printed)} lists processes, retired pages or ` +
                              "clocks, not GPUs (one row each); its rows were not read as GPUs",
                );
                header.noted = true;
            }
            continue;
        }
        if (header?.kind === "gpus") {
            // One-column rows get the strict checks of header-less output: any line without a comma could follow.
            const row = parseCsvRow(header.columns, fields, header.columns.length === 1);
            const fact = row?.identified ? toCsvFact(row, block.ordinalOf(row)) : null;
            result.driverVersion ??= row?.driverVersion ?? null;
            if (row && row.driverVersion === null && row.unreadableDriverCells.length > 0) {
                result.driverNotes.push(`the csv ${row.unreadableDriverCells.join(" and ")}, which is not a version`);
            }
            if (fact) {
                result.facts.push(fact);
            }
            // A line under a header that does not fit it (a cut row, say) ends the block; reading it as header-less
            // output instead would take a cut "143771" for "14".
            header = row ? header : null;
            continue;
        }
        header = null;
        const bare = fields.length >= 3 ? parseCsvRow(DEFAULT_CSV_COLUMNS.slice(0, fields.length), fields, true) : null;
        const fact = bare ? toCsvFact(bare, 0) : null;
        if (bare && fact) {
            result.driverVersion ??= bare.driverVersion;
            result.facts.push(fact);
        }
    }
    return result;
}

/**
 * The fields of a csv line. A line without a comma only counts as the header of a one-column query this parser reads,
 * or as a row under such a header.
 */
function csvFields(line: string, header: CsvHeader | null): string[] | null {
    if (line.includes(",")) {
        return line.split(",").map((field) => field.trim());
    }
    const field = line.trim();
    return field !== "" && (ONE_COLUMN_HEADERS.includes(field) || header?.columns.length === 1) ? [field] : null;
}

/**
 * Rows without an index column are numbered in order, which is all nvidia-smi guarantees. A looped query
 * (`-l 1`) prints the header once and then every GPU again at each sample (h200e-580-query-loop-noindex.csv): a row
 * whose UUID or bus id was already numbered in this block is that GPU again, not the next one.
 */
class CsvBlock {
    private next = 0;
    private readonly byId = new Map<string, number>();

    ordinalOf(row: CsvRow): number {
        const ids = [row.uuid, row.busId].filter((id): id is string => id !== null);
        const seen = ids.map((id) => this.byId.get(id)).find((n) => n !== undefined);
        const ordinal = seen ?? this.next++;
        for (const id of ids) {
            this.byId.set(id, ordinal);
        }
        return ordinal;
    }
}

/**
 * Recognises a csv header line by every field being a query name, such as `memory.total [MiB]`,
 * `pci.baseClass` or `power_smoothing.curr_profile.ramp_up_rate [W/s]`.
 */
function parseCsvHeader(fields: string[]): CsvHeader | null {
    const oneColumn = fields.length === 1 && ONE_COLUMN_HEADERS.includes(fields[0] ?? "");
    if (
        (fields.length < 2 && !oneColumn) ||
        !fields.every((field) => /^[A-Za-z][A-Za-z0-9_.]*(?: \[[^\]]*\])?$/.test(field))
    ) {
        return null;
    }
    const columns = fields.map((field) => field.replace(/ \[[^\]]*\]$/, ""));
    const kind = columns.some((c) => NOT_PER_GPU_COLUMNS.includes(c))
        ? "not-gpus"
        : columns.some((c) => KNOWN_CSV_COLUMNS.includes(c))
          ? "gpus"
          : "unknown";
    return { columns, printed: fields.join(", "), kind, noted: false };
}

interface CsvRow {
    index: number | null;
    identified: boolean;
    name: string | null;
    uuid: string | null;
    memoryTotalMiB: number | null;
    busId: string | null;
    /** From `kmd_version`, else `driver_version`. */
    driverVersion: string | null;
    /** `column holds "value"` for each driver version cell that held something other than a version. */
    unreadableDriverCells: string[];
}

/**
 * Reads one data row. With `strict`, used for header-less output and one-column queries, every present value must
 * look exactly like what nvidia-smi prints in that column, so that ordinary log lines are not mistaken for GPUs.
 */
function parseCsvRow(columns: string[], fields: string[], strict = false): CsvRow | null {
    if (columns.length !== fields.length) {
        return null;
    }
    const row: CsvRow = {
        index: null,
        identified: columns.some((c) => GPU_IDENTITY_COLUMNS.includes(c)),
        name: null,
        uuid: null,
        memoryTotalMiB: null,
        busId: null,
        driverVersion: null,
        unreadableDriverCells: [],
    };
    const driverCells = new Map<string, string | null>();
    for (let i = 0; i < columns.length; i++) {
        const column = columns[i] ?? "";
        const raw = fields[i] ?? "";
        if (DRIVER_COLUMNS.includes(column)) {
            const version = cleanVersion(raw);
            if (version === null && strict && nullIfMissing(raw) !== null) {
                return null;
            }
            if (version === null && raw !== "") {
                row.unreadableDriverCells.push(`${column} holds ${quote(raw)}`);
            }
            driverCells.set(column, version);
        } else if (!applyCsvValue(row, column, raw, strict)) {
            return null;
        }
    }
    if (columns.includes("index") && row.index === null) {
        return null;
    }
    row.driverVersion = DRIVER_COLUMNS.map((c) => driverCells.get(c) ?? null).find((v) => v !== null) ?? null;
    return row;
}

/** Stores one csv value on the row; returns false when the value cannot belong to that column. */
function applyCsvValue(row: CsvRow, column: string, raw: string, strict: boolean): boolean {
    const value = nullIfMissing(raw);
    switch (column) {
        case "index":
            row.index = parseIndex(raw);
            return row.index !== null;
        case "name":
            row.name = value;
            return !strict || (value !== null && /[A-Za-z]/.test(value));
        case "uuid":
            row.uuid = value === null ? null : cleanUuid(value);
            return !strict || row.uuid !== null;
        case "memory.total":
            row.memoryTotalMiB = value === null ? null : parseMiB(value);
            return !strict || value === null || row.memoryTotalMiB !== null;
        case "pci.bus_id":
            row.busId = value === null ? null : normalizeBusId(value);
            return !strict || value === null || row.busId !== null;
        default:
            return true;
    }
}

function toCsvFact(row: CsvRow, ordinal: number): GpuFacts | null {
    // Without an index column the rows still come in index order, which is all nvidia-smi guarantees.
    const index = row.index ?? (ordinal <= MAX_GPU_INDEX ? ordinal : null);
    if (index === null) {
        return null;
    }
    return {
        index,
        name: ranked(row.name, RANK_EXACT),
        uuid: ranked(row.uuid, RANK_EXACT),
        memoryTotalMiB: ranked(row.memoryTotalMiB, RANK_EXACT),
        busId: ranked(row.busId, RANK_EXACT),
    };
}

// ---------------------------------------------------------------------------------------------------------------
// `nvidia-smi -q`

function scanQuery(lines: string[]): QueryBlock[] {
    const blocks: QueryBlock[] = [];
    let current: QueryBlock | null = null;
    let baseIndent = 0;
    let ordinal = 0;
    let inFbMemory = false;
    for (const raw of lines) {
        const line = raw.trim();
        const indent = raw.length - raw.trimStart().length;
        if (line.includes("NVSMI LOG") || line.startsWith("Attached GPUs")) {
            // Each -q report numbers its GPUs from zero again.
            current = null;
            ordinal = 0;
            continue;
        }
        const busId = line.startsWith("GPU ") ? normalizeBusId(line.slice("GPU ".length)) : null;
        if (busId !== null) {
            current = { ordinal: ordinal++, busId, name: null, uuid: null, memoryTotalMiB: null };
            blocks.push(current);
            baseIndent = indent;
            inFbMemory = false;
            continue;
        }
        if (current === null || line === "") {
            continue;
        }
        if (indent <= baseIndent) {
            current = null;
            continue;
        }
        inFbMemory = applyQueryLine(current, line, indent - baseIndent, inFbMemory);
    }
    return blocks;
}

/**
 * Applies one indented `-q` line to its GPU block and returns whether the following lines belong to
 * "FB Memory Usage". Only direct children of the GPU count: MIG devices and BAR1 memory have "Total" lines too.
 */
function applyQueryLine(block: QueryBlock, line: string, depth: number, inFbMemory: boolean): boolean {
    const colon = line.indexOf(":");
    const key = colon < 0 ? line : line.slice(0, colon).trim();
    const value = colon < 0 ? null : nullIfMissing(line.slice(colon + 1));
    if (depth > 4) {
        if (inFbMemory && key === "Total" && value !== null) {
            block.memoryTotalMiB ??= parseMiB(value);
        }
        return inFbMemory;
    }
    if (key === "Product Name" && value !== null) {
        block.name ??= value;
    } else if (key === "GPU UUID" && value !== null) {
        block.uuid ??= cleanUuid(value);
    }
    return line === "FB Memory Usage";
}

// ---------------------------------------------------------------------------------------------------------------
// Merging

function mergeGpus(facts: GpuFacts[], queryBlocks: QueryBlock[]): NvidiaSmiGpu[] {
    const byIndex = new Map<number, GpuFacts>();
    for (const fact of facts) {
        mergeInto(byIndex, fact);
    }
    // -q has no indices: match its blocks to GPUs already known by UUID or bus id, and fall back to its order,
    // which follows the index order for a report on all GPUs.
    for (const block of queryBlocks) {
        const known = [...byIndex.values()].find(
            (gpu) =>
                (block.uuid !== null && gpu.uuid?.value === block.uuid) ||
                (block.busId !== null && gpu.busId?.value === block.busId),
        );
        mergeInto(byIndex, {
            index: known?.index ?? block.ordinal,
            name: ranked(block.name, RANK_EXACT),
            uuid: ranked(block.uuid, RANK_EXACT),
            memoryTotalMiB: ranked(block.memoryTotalMiB, RANK_EXACT),
            busId: ranked(block.busId, RANK_EXACT),
        });
    }
    return [...byIndex.values()]
        .sort((a, b) => a.index - b.index)
        .map((gpu) => ({
            index: gpu.index,
            name: gpu.name?.value ?? "",
            uuid: gpu.uuid?.value ?? null,
            memoryTotalMiB: gpu.memoryTotalMiB?.value ?? null,
            busId: gpu.busId?.value ?? null,
        }));
}

function mergeInto(byIndex: Map<number, GpuFacts>, fact: GpuFacts): void {
    if (fact.index > MAX_GPU_INDEX) {
        return;
    }
    const existing = byIndex.get(fact.index);
    if (existing === undefined) {
        byIndex.set(fact.index, { ...fact });
        return;
    }
    existing.name = moreSpecific(existing.name, fact.name);
    existing.uuid = moreSpecific(existing.uuid, fact.uuid);
    existing.memoryTotalMiB = moreSpecific(existing.memoryTotalMiB, fact.memoryTotalMiB);
    existing.busId = moreSpecific(existing.busId, fact.busId);
}

function moreSpecific<T>(current: Ranked<T> | null, candidate: Ranked<T> | null): Ranked<T> | null {
    if (candidate === null) {
        return current;
    }
    return current === null || candidate.rank > current.rank ? candidate : current;
}
