package lab.kstreams;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The program's settings, from {@code --name value} (or {@code --name=value}) arguments, falling
 * back to the environment variable {@code KSTREAMS_NAME} (upper case, dashes as underscores), then
 * to a default. The bootstrap servers also fall back to {@code KAFKA_BOOTSTRAP_SERVERS}.
 */
final class Options {

    static final String USAGE = String.join("\n",
            "usage: java -Xmx256m -jar kstreams-reference.jar [options]",
            "",
            "The guide's running totals per customer on the real Kafka Streams: orders (JSON values,",
            "any key) -> groupBy customerId (repartition) -> aggregate total cents -> output topic.",
            "Output value: the customer's running total in integer cents as a decimal string.",
            "",
            "  -b, --bootstrap-servers HOST:PORT   (env KSTREAMS_BOOTSTRAP_SERVERS or KAFKA_BOOTSTRAP_SERVERS)",
            "  --application-id ID                 default customer-totals-reference",
            "  -t, --input-topic TOPIC             default orders",
            "  --output-topic TOPIC                default customer-totals",
            "  --processing-guarantee G            at_least_once | exactly_once_v2 (alias exactly_once);",
            "                                      default exactly_once_v2",
            "  --commit-interval-ms MS             default: Kafka's (100 under exactly-once, 30000 otherwise)",
            "  --state-dir DIR                     default: java.io.tmpdir/kafka-streams",
            "  --store rocksdb|memory              the aggregate's store; default rocksdb (Kafka's default)",
            "  --threads N                         num.stream.threads; default 1",
            "  --expected-records M                stop once M input records have been aggregated",
            "  --idle-ms N                         stop once RUNNING with nothing aggregated for N ms",
            "  --max-runtime-ms N                  give up after N ms (exit 3)",
            "  --close-timeout-ms N                default 30000",
            "  --config KEY=VALUE                  any Kafka Streams/client property; repeatable",
            "  -h, --help",
            "",
            "Without --expected-records, --idle-ms or --max-runtime-ms it runs until SIGTERM/SIGINT.",
            "Prints one line of JSON (the run's summary) to stdout; logs go to stderr.",
            "Exit codes: 0 done, 1 the streams app failed, 2 bad arguments or missing topics,",
            "3 --max-runtime-ms reached first, 4 close did not finish in time,",
            "5 SIGTERM/SIGINT before --expected-records were aggregated.");

    String bootstrapServers;
    String applicationId;
    String inputTopic;
    String outputTopic;
    String processingGuarantee;
    Long commitIntervalMs;
    String stateDir;
    String store;
    int threads;
    long expectedRecords;
    long idleMs;
    long maxRuntimeMs;
    long closeTimeoutMs;
    final Map<String, String> config = new LinkedHashMap<>();

    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    static Options parse(String[] args, Map<String, String> env) throws UsageException {
        Map<String, String> given = new LinkedHashMap<>();
        List<String> configs = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("-h") || arg.equals("--help")) {
                return null;
            }
            String name;
            String value;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(2, eq);
                value = arg.substring(eq + 1);
            } else if (arg.startsWith("-")) {
                name = switch (arg) {
                    case "-b" -> "bootstrap-servers";
                    case "-t" -> "input-topic";
                    default -> arg.replaceFirst("^--", "");
                };
                if (i + 1 >= args.length) {
                    throw new UsageException(arg + " needs a value");
                }
                value = args[++i];
            } else {
                throw new UsageException("unexpected argument: " + arg);
            }
            if (name.equals("config")) {
                configs.add(value);
            } else {
                given.put(name, value);
            }
        }
        for (String name : given.keySet()) {
            if (!KNOWN.contains(name)) {
                throw new UsageException("unknown option --" + name);
            }
        }
        Options o = new Options();
        o.bootstrapServers = get(given, env, "bootstrap-servers", env.get("KAFKA_BOOTSTRAP_SERVERS"));
        if (o.bootstrapServers == null || o.bootstrapServers.isBlank()) {
            throw new UsageException("no bootstrap servers: pass -b HOST:PORT (or set KAFKA_BOOTSTRAP_SERVERS)");
        }
        o.applicationId = get(given, env, "application-id", "customer-totals-reference");
        o.inputTopic = get(given, env, "input-topic", "orders");
        o.outputTopic = get(given, env, "output-topic", "customer-totals");
        String guarantee = get(given, env, "processing-guarantee", "exactly_once_v2").toLowerCase(Locale.ROOT);
        o.processingGuarantee = switch (guarantee) {
            case "at_least_once" -> "at_least_once";
            // Kafka 4 removed exactly-once v1: "exactly_once" can only mean v2 now.
            case "exactly_once", "exactly_once_v2" -> "exactly_once_v2";
            default -> throw new UsageException(
                    "--processing-guarantee must be at_least_once or exactly_once_v2, not " + guarantee);
        };
        String commit = get(given, env, "commit-interval-ms", null);
        o.commitIntervalMs = commit == null ? null : number(commit, "commit-interval-ms");
        o.stateDir = get(given, env, "state-dir", null);
        o.store = get(given, env, "store", "rocksdb");
        if (!o.store.equals("rocksdb") && !o.store.equals("memory")) {
            throw new UsageException("--store must be rocksdb or memory, not " + o.store);
        }
        o.threads = (int) number(get(given, env, "threads", "1"), "threads");
        o.expectedRecords = number(get(given, env, "expected-records", "0"), "expected-records");
        o.idleMs = number(get(given, env, "idle-ms", "0"), "idle-ms");
        o.maxRuntimeMs = number(get(given, env, "max-runtime-ms", "0"), "max-runtime-ms");
        o.closeTimeoutMs = number(get(given, env, "close-timeout-ms", "30000"), "close-timeout-ms");
        for (String kv : configs) {
            int at = kv.indexOf('=');
            if (at <= 0) {
                throw new UsageException("--config takes KEY=VALUE, not " + kv);
            }
            o.config.put(kv.substring(0, at), kv.substring(at + 1));
        }
        return o;
    }

    private static final List<String> KNOWN = List.of(
            "bootstrap-servers", "application-id", "input-topic", "output-topic",
            "processing-guarantee", "commit-interval-ms", "state-dir", "store", "threads",
            "expected-records", "idle-ms", "max-runtime-ms", "close-timeout-ms");

    private static String get(Map<String, String> given, Map<String, String> env, String name, String dflt) {
        String value = given.get(name);
        if (value == null) {
            value = env.get("KSTREAMS_" + name.toUpperCase(Locale.ROOT).replace('-', '_'));
        }
        return value == null || value.isEmpty() ? dflt : value;
    }

    private static long number(String value, String name) throws UsageException {
        try {
            long n = Long.parseLong(value.trim());
            if (n < 0) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be a whole number >= 0, not " + value);
        }
    }
}
