// SSTableGen writes a set of SSTables for benchmarks offline, with
// Cassandra's own CQLSSTableWriter (no cluster, no CQL round trips):
//
//   java -cp <cassandra classpath> SSTableGen.java <dir> <MiB> [<MiB per SSTable>]
//   java -cp <cassandra classpath> SSTableGen.java <dir> wide <rows> <pieces> <piece>
//
// MiB per SSTable is the compressed size on disk at which the writer starts
// a new SSTable (default 136, about 256 MiB of uncompressed data here).
//
// It writes an assets-like table (text partition key, timeuuid clustering,
// text, int, bigint, timestamp and frozen map columns, LZ4 compression) into dir
// until at least MiB of uncompressed Data.db has been produced. The writer
// runs sorted (partitions handed over in Murmur3 token order), so it
// streams rows to disk instead of buffering whole SSTables in the heap.
// Rows come from a seed per partition, so a rerun writes the same data. With
// -Dcassandra.config=file://.../cassandra.yaml the SSTable version and format
// are the ones that yaml makes the node write (storage_compatibility_mode,
// sstable.selected_format); without it, Cassandra's client mode writes the
// newest BIG version (oa). Run through `deployments/local/services sstablegen`.
//
// With "wide", it writes piece <piece> (from 0) of one partition of <rows>
// rows of the same table, its metadata a (non-frozen) map as in the assets
// table (owner "owner-wide"), cut into <pieces> SSTables,
// each holding every <pieces>th row, for measuring the memory a reader
// needs for a wide partition. (The writer holds a partition in memory:
// pieces keep that small, and merge as a partition flushed many times
// does.)

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.cassandra.config.DatabaseDescriptor;
import org.apache.cassandra.dht.Murmur3Partitioner;
import org.apache.cassandra.io.sstable.CQLSSTableWriter;
import org.apache.cassandra.io.sstable.format.SSTableReader;

public class SSTableGen {
    // The set's metadata is frozen (written whole with each version of an
    // asset), which every reader compared in the benchmarks can export;
    // the wide partition keeps the assets table's own map<text, text>, one
    // cell per entry.
    static final String SCHEMA = schema("frozen<map<text, text>>");
    static final String WIDE_SCHEMA = schema("map<text, text>");
    static final String INSERT = "INSERT INTO bench.assets"
            + " (owner, asset_id, asset_type, name, size, version, created_at, metadata)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    static final String[] TYPES = {"image", "video", "document", "audio", "archive", "dataset"};
    static final String[] WORDS = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
            "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"};
    static final String[] REGIONS = {"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"};

    static String schema(String metadata) {
        return "CREATE TABLE bench.assets ("
                + " owner text, asset_id timeuuid, asset_type text, name text, size int, version bigint,"
                + " created_at timestamp, metadata " + metadata + ","
                + " PRIMARY KEY (owner, asset_id))"
                + " WITH compression = {'class': 'LZ4Compressor'}";
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: SSTableGen <dir> <MiB> [<MiB per SSTable on disk>]");
            System.exit(2);
        }
        File dir = new File(args[0]);
        if (args[1].equals("wide")) {
            if (args.length != 5) {
                System.err.println("usage: SSTableGen <dir> wide <rows> <pieces> <piece>");
                System.exit(2);
            }
            writeWide(dir, Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            return;
        }
        long target = Long.parseLong(args[1]) << 20;
        int perTable = args.length > 2 ? Integer.parseInt(args[2]) : 136;
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IllegalStateException("cannot create " + dir);
        }
        if (System.getProperty("cassandra.config") != null) {
            // Tool mode reads the yaml; the writer's own client-mode
            // initialization (which forces storage compatibility NONE) is
            // then skipped.
            DatabaseDescriptor.toolInitialization();
        }
        AtomicLong produced = new AtomicLong();
        AtomicLong tables = new AtomicLong();
        CQLSSTableWriter w = CQLSSTableWriter.builder()
                .inDirectory(dir.getPath())
                .forTable(SCHEMA)
                .using(INSERT)
                .withPartitioner(Murmur3Partitioner.instance)
                .sorted()
                .withMaxSSTableSizeInMiB(perTable)
                .openSSTableOnProduced()
                .withSSTableProducedListener(readers -> {
                    for (SSTableReader r : readers) {
                        produced.addAndGet(r.uncompressedLength());
                        tables.incrementAndGet();
                        r.selfRef().release();
                    }
                })
                .build();
        // About 5 KiB of data per partition: enough keys for the target,
        // written in token order.
        int keys = (int) Math.min(Integer.MAX_VALUE - 8, target / 2048 + 1000);
        String[] owners = new String[keys];
        long[] tokens = new long[keys];
        Integer[] order = new Integer[keys];
        for (int i = 0; i < keys; i++) {
            owners[i] = String.format("owner-%08d", i);
            ByteBuffer k = ByteBuffer.wrap(owners[i].getBytes(StandardCharsets.UTF_8));
            tokens[i] = (Long) Murmur3Partitioner.instance.getToken(k).getTokenValue();
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingLong(i -> tokens[i]));
        long t0 = System.nanoTime(), rows = 0, partitions = 0;
        long base = 1717200000000L; // 2024-06-01
        for (int o = 0; o < keys && produced.get() < target; o++, partitions++) {
            String owner = owners[order[o]];
            Random rnd = new Random(20240601L * 31 + order[o]);
            int n = 1 + rnd.nextInt(40);
            long start = base + order[o] * 60_000L;
            for (int i = 0; i < n; i++, rows++) {
                long millis = start + i * 37 + rnd.nextInt(37);
                Map<String, String> meta = new LinkedHashMap<>();
                meta.put("checksum", Long.toHexString(rnd.nextLong()) + Long.toHexString(rnd.nextLong()));
                meta.put("region", REGIONS[rnd.nextInt(REGIONS.length)]);
                meta.put("source", "https://files.example.com/" + owner + "/" + Long.toHexString(rnd.nextLong()));
                if (rnd.nextInt(4) == 0) {
                    meta.put("label", WORDS[rnd.nextInt(WORDS.length)] + " " + WORDS[rnd.nextInt(WORDS.length)]);
                }
                w.addRow(owner, timeuuid(millis, i, rnd.nextLong()), TYPES[rnd.nextInt(TYPES.length)],
                        WORDS[rnd.nextInt(WORDS.length)] + "-" + WORDS[rnd.nextInt(WORDS.length)] + "-" + i + ".dat",
                        rnd.nextInt(1 << 30), (long) rnd.nextInt(1000), new Date(millis), meta);
            }
        }
        w.close();
        double secs = (System.nanoTime() - t0) / 1e9;
        System.out.printf("SSTableGen: %d SSTables, %d partitions, %d rows, %d MiB uncompressed Data.db in %.1fs%n",
                tables.get(), partitions, rows, produced.get() >> 20, secs);
    }

    static CQLSSTableWriter writer(File dir, String schema) {
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IllegalStateException("cannot create " + dir);
        }
        if (System.getProperty("cassandra.config") != null) {
            DatabaseDescriptor.toolInitialization();
        }
        return CQLSSTableWriter.builder()
                .inDirectory(dir.getPath())
                .forTable(schema)
                .using(INSERT)
                .withPartitioner(Murmur3Partitioner.instance)
                .sorted()
                .build();
    }

    // writeWide writes the rows i of one partition of n rows with
    // i % pieces == piece, in clustering order.
    static void writeWide(File dir, int n, int pieces, int piece) throws Exception {
        CQLSSTableWriter w = writer(dir, WIDE_SCHEMA);
        long t0 = System.nanoTime(), start = 1717200000000L;
        String owner = "owner-wide";
        for (int i = piece; i < n; i += pieces) {
            Random rnd = new Random(20240601L * 31 + i);
            long millis = start + i * 37L + rnd.nextInt(37);
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("checksum", Long.toHexString(rnd.nextLong()) + Long.toHexString(rnd.nextLong()));
            meta.put("region", REGIONS[rnd.nextInt(REGIONS.length)]);
            meta.put("source", "https://files.example.com/" + owner + "/" + Long.toHexString(rnd.nextLong()));
            w.addRow(owner, timeuuid(millis, i, rnd.nextLong()), TYPES[rnd.nextInt(TYPES.length)],
                    WORDS[rnd.nextInt(WORDS.length)] + "-" + WORDS[rnd.nextInt(WORDS.length)] + "-" + i + ".dat",
                    rnd.nextInt(1 << 30), (long) rnd.nextInt(1000), new Date(millis), meta);
        }
        w.close();
        System.out.printf("SSTableGen: piece %d of %d of a partition of %d rows in %.1fs%n", piece, pieces, n, (System.nanoTime() - t0) / 1e9);
    }

    // timeuuid builds a version 1 UUID for the given time, unique per seq.
    static UUID timeuuid(long unixMillis, long seq, long node) {
        long t = unixMillis * 10000 + 0x01B21DD213814000L + seq % 10000;
        long msb = (t << 32) | ((t & 0xFFFF00000000L) >>> 16) | 0x1000 | ((t >>> 48) & 0x0FFF);
        long lsb = 0x8000000000000000L | (node & 0x3FFFFFFFFFFFFFFFL);
        return new UUID(msb, lsb);
    }
}
