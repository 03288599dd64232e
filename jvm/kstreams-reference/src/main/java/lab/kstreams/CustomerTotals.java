package lab.kstreams;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guide's "running totals per customer" on the real Kafka Streams, run to completion.
 *
 * <pre>
 * orders (key orderId, value JSON order)
 *   -> groupBy(customerId)            repartition topic &lt;app-id&gt;-customer-totals-by-customer-repartition
 *   -> aggregate(0, total + cents)    store customer-totals-store (changelog &lt;app-id&gt;-customer-totals-store-changelog)
 *   -> toStream().to(output)          key customerId, value the running total in cents as a decimal string
 * </pre>
 *
 * <p>Why cents: a double sum depends on the order of its terms, and the repartition interleaves the
 * input partitions in no fixed order, so two correct runs could differ in the last bits. Each
 * amount becomes {@code Math.round(amount * 100)} (a long, half rounds up) and the totals are exact.
 * The value is the plain decimal string of that long ("37196"), which any client reads as a string
 * or as a JSON number; the key is the customerId.
 *
 * <p>The order value travels through the repartition unchanged, as in the guide (the grouping
 * re-keys the order, the aggregator reads its amount).
 */
public final class CustomerTotals {
    private static final long IDLE_BEFORE_FIRST_RECORD_NANOS = TimeUnit.SECONDS.toNanos(30);


    static final String STORE = "customer-totals-store";
    static final String REPARTITION = "customer-totals-by-customer";

    private static final Logger LOG = LoggerFactory.getLogger(CustomerTotals.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the stream thread tells the main thread; written by one thread, read by another. */
    static final class Progress {
        final AtomicLong read = new AtomicLong();
        final AtomicLong aggregated = new AtomicLong();
        final AtomicLong firstReadNanos = new AtomicLong();
        volatile long lastAggregatedNanos;

        void onRead() {
            if (read.getAndIncrement() == 0) {
                firstReadNanos.compareAndSet(0, System.nanoTime());
            }
        }

        void onAggregated() {
            lastAggregatedNanos = System.nanoTime();
            aggregated.incrementAndGet();
        }
    }

    public static Topology topology(String inputTopic, String outputTopic, String store, Progress progress) {
        Materialized<String, Long, KeyValueStore<Bytes, byte[]>> materialized = store.equals("memory")
                ? Materialized.as(Stores.inMemoryKeyValueStore(STORE))
                : Materialized.as(STORE);
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(inputTopic, Consumed.with(Serdes.String(), Serdes.String()))
                .peek((orderId, order) -> progress.onRead())
                .groupBy((orderId, order) -> order == null ? null : customerId(orderId, order),
                        Grouped.with(REPARTITION, Serdes.String(), Serdes.String()))
                .aggregate(
                        () -> 0L,
                        (customerId, order, totalCents) -> {
                            long cents = amountCents(customerId, order);
                            progress.onAggregated();
                            return totalCents + cents;
                        },
                        materialized.withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                .toStream()
                .mapValues(totalCents -> Long.toString(totalCents))
                .to(outputTopic, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    static String customerId(String orderId, String order) {
        JsonNode id = parse(orderId, order).get("customerId");
        if (id == null || !id.isTextual()) {
            throw new IllegalArgumentException("order " + orderId + " has no text customerId: " + snippet(order));
        }
        return id.asText();
    }

    /** {@code Math.round(amount * 100)}: the amount in integer cents, halves rounded up. */
    static long amountCents(String customerId, String order) {
        JsonNode amount = parse(customerId, order).get("amount");
        if (amount == null || !amount.isNumber()) {
            throw new IllegalArgumentException(
                    "order of customer " + customerId + " has no numeric amount: " + snippet(order));
        }
        return Math.round(amount.doubleValue() * 100);
    }

    private static JsonNode parse(String key, String order) {
        try {
            JsonNode node = JSON.readTree(order);
            if (node == null || !node.isObject()) {
                throw new IllegalArgumentException("record " + key + " is not a JSON object: " + snippet(order));
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("record " + key + " is not JSON (" + e.getOriginalMessage()
                    + "): " + snippet(order), e);
        }
    }

    private static String snippet(String text) {
        return text.length() <= 200 ? text : text.substring(0, 200) + "...";
    }

    public static void main(String[] args) {
        System.exit(run(args, System.getenv(), System.out));
    }

    static int run(String[] args, Map<String, String> env, PrintStream out) {
        ObjectNode summary = JSON.createObjectNode();
        summary.put("program", "lab.kstreams.CustomerTotals");
        summary.put("kafkaStreamsVersion", AppInfoParser.getVersion());
        Options o;
        try {
            o = Options.parse(args, env);
        } catch (Options.UsageException e) {
            System.err.println(e.getMessage() + "\n\n" + Options.USAGE);
            return finish(out, summary, false, "bad arguments: " + e.getMessage(), 2);
        }
        if (o == null) {
            out.println(Options.USAGE);
            return 0;
        }
        summary.put("applicationId", o.applicationId);
        summary.put("inputTopic", o.inputTopic);
        summary.put("outputTopic", o.outputTopic);
        summary.put("processingGuarantee", o.processingGuarantee);
        summary.put("store", o.store);
        summary.put("threads", o.threads);

        Properties props = new Properties();
        props.putAll(o.config);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrapServers);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, o.applicationId);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, o.processingGuarantee);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.threads);
        if (o.commitIntervalMs != null) {
            props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.commitIntervalMs);
        }
        if (o.stateDir != null) {
            props.put(StreamsConfig.STATE_DIR_CONFIG, o.stateDir);
        }
        try {
            StreamsConfig config = new StreamsConfig(props);
            summary.put("commitIntervalMs", config.getLong(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG));
        } catch (ConfigException e) {
            return finish(out, summary, false, "bad Kafka Streams configuration: " + e.getMessage(), 2);
        }

        String missing = checkTopics(o);
        if (missing != null) {
            return finish(out, summary, false, missing, 2);
        }

        Progress progress = new Progress();
        Topology topology = topology(o.inputTopic, o.outputTopic, o.store, progress);
        LOG.info("topology:\n{}", topology.describe());
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong runningSinceNanos = new AtomicLong();
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            // SIGTERM / Ctrl-C: let the main loop close the app and print the summary first.
            signalled = true;
            try {
                finished.await(o.closeTimeoutMs + 5_000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "customer-totals-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);

        KafkaStreams streams = new KafkaStreams(topology, props);
        streams.setUncaughtExceptionHandler(e -> {
            failure.compareAndSet(null, e);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            LOG.info("state {} -> {}", before, now);
            if (now == KafkaStreams.State.RUNNING) {
                runningSinceNanos.set(System.nanoTime());
            }
        });

        long start = System.nanoTime();
        long deadline = o.maxRuntimeMs > 0 ? start + TimeUnit.MILLISECONDS.toNanos(o.maxRuntimeMs) : Long.MAX_VALUE;
        long idleNanos = TimeUnit.MILLISECONDS.toNanos(o.idleMs);
        String stoppedBy;
        streams.start();
        try {
            while (true) {
                KafkaStreams.State state = streams.state();
                long now = System.nanoTime();
                if (failure.get() != null || state == KafkaStreams.State.ERROR
                        || state == KafkaStreams.State.PENDING_ERROR || state == KafkaStreams.State.NOT_RUNNING) {
                    stoppedBy = "error";
                    break;
                }
                if (o.expectedRecords > 0 && progress.aggregated.get() >= o.expectedRecords) {
                    stoppedBy = "records";
                    break;
                }
                // Idle counts from the last aggregated record; before the first one (the group is
                // still forming, or the repartition topic not yet fetched on a loaded machine) the
                // app waits at least IDLE_BEFORE_FIRST_RECORD_MS, so it never stops before it began.
                boolean started = progress.aggregated.get() > 0;
                long idleSince = started ? progress.lastAggregatedNanos : runningSinceNanos.get();
                long idleLimit = started ? idleNanos : Math.max(idleNanos, IDLE_BEFORE_FIRST_RECORD_NANOS);
                if (idleNanos > 0 && state == KafkaStreams.State.RUNNING && now - idleSince >= idleLimit) {
                    stoppedBy = "idle";
                    break;
                }
                if (now >= deadline) {
                    stoppedBy = "deadline";
                    break;
                }
                if (signalled) {
                    stoppedBy = "signal";
                    break;
                }
                Thread.sleep(10);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stoppedBy = "signal";
        }
        long stopped = System.nanoTime();
        storeFigures(streams, summary);
        // Leave the group on close: a finished run should not hold its partitions until a timeout.
        boolean closed = streams.close(CloseOptions.groupMembershipOperation(
                CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(Duration.ofMillis(o.closeTimeoutMs)));
        long end = System.nanoTime();
        if (stoppedBy.equals("error") || !closed) {
            // A thread that died does not leave the group on its way out (Kafka Streams members
            // never do); its member would linger until the session timeout, so remove it.
            removeGroupMembers(o);
        }

        long records = progress.aggregated.get();
        long firstRead = progress.firstReadNanos.get();
        long processingNanos = firstRead == 0 ? 0 : Math.max(0, progress.lastAggregatedNanos - firstRead);
        summary.put("stoppedBy", stoppedBy);
        summary.put("recordsRead", progress.read.get());
        summary.put("recordsProcessed", records);
        summary.put("elapsedMs", ms(end - start));
        summary.put("startupMs", firstRead == 0 ? null : ms(firstRead - start));
        summary.put("processingMs", ms(processingNanos));
        summary.put("closeMs", ms(end - stopped));
        summary.put("recordsPerSec", processingNanos == 0 ? null : Math.round(records * 1e9 / processingNanos));
        summary.put("recordsPerSecWallClock", Math.round(records * 1e9 / Math.max(1, end - start)));
        summary.put("closedCleanly", closed);

        int code;
        String error = null;
        if (stoppedBy.equals("error")) {
            error = failure.get() != null ? describe(failure.get()) : "the streams app went to state " + streams.state();
            code = 1;
        } else if (stoppedBy.equals("deadline")) {
            error = "--max-runtime-ms " + o.maxRuntimeMs + " reached after " + records + " of "
                    + (o.expectedRecords > 0 ? o.expectedRecords : "?") + " records";
            code = 3;
        } else if (stoppedBy.equals("signal") && o.expectedRecords > 0 && records < o.expectedRecords) {
            error = "stopped by a signal after " + records + " of " + o.expectedRecords + " records";
            code = 5;
        } else if (!closed) {
            error = "close did not finish within " + o.closeTimeoutMs + " ms";
            code = 4;
        } else {
            code = 0;
        }
        int result = finish(out, summary, code == 0, error, code);
        finished.countDown();
        return result;
    }

    private static volatile boolean signalled;

    /** The number of customers and the sum of their totals as the store holds them at stop time. */
    private static void storeFigures(KafkaStreams streams, ObjectNode summary) {
        try {
            ReadOnlyKeyValueStore<String, Long> view = streams.store(
                    StoreQueryParameters.fromNameAndType(STORE, QueryableStoreTypes.keyValueStore()));
            long keys = 0;
            long cents = 0;
            try (KeyValueIterator<String, Long> it = view.all()) {
                while (it.hasNext()) {
                    KeyValue<String, Long> kv = it.next();
                    keys++;
                    cents += kv.value;
                }
            }
            summary.put("storeKeys", keys);
            summary.put("storeTotalCents", cents);
        } catch (RuntimeException e) {
            LOG.warn("could not query {}: {}", STORE, e.toString());
            summary.putNull("storeKeys");
            summary.putNull("storeTotalCents");
        }
    }

    private static void removeGroupMembers(Options o) {
        try (Admin admin = Admin.create(adminProps(o))) {
            admin.removeMembersFromConsumerGroup(o.applicationId, new RemoveMembersFromConsumerGroupOptions())
                    .all().get(15, TimeUnit.SECONDS);
            LOG.info("removed the remaining members of group {}", o.applicationId);
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            LOG.warn("could not remove the members of group {}: {}", o.applicationId, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Properties adminProps(Options o) {
        Properties props = new Properties();
        props.putAll(o.config);
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrapServers);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
        return props;
    }

    /** A clear error within seconds when a topic is missing or the brokers do not answer. */
    private static String checkTopics(Options o) {
        try (Admin admin = Admin.create(adminProps(o))) {
            for (String topic : List.of(o.inputTopic, o.outputTopic)) {
                try {
                    admin.describeTopics(List.of(topic)).allTopicNames().get(20, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                        return "topic " + topic + " does not exist on " + o.bootstrapServers
                                + ": create it before the run (the input holds the orders; the output "
                                + "is where the totals go)";
                    }
                    if (e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException) {
                        return "the brokers at " + o.bootstrapServers + " did not answer within 15 s";
                    }
                    return "could not describe topic " + topic + " on " + o.bootstrapServers + ": "
                            + describe(e.getCause());
                } catch (TimeoutException e) {
                    return "the brokers at " + o.bootstrapServers + " did not answer within 20 s";
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while checking the topics";
        } catch (RuntimeException e) {
            return "could not check the topics on " + o.bootstrapServers + ": " + describe(e);
        }
        return null;
    }

    private static String describe(Throwable e) {
        StringBuilder text = new StringBuilder(e.toString());
        for (Throwable cause = e.getCause(); cause != null && cause != cause.getCause(); cause = cause.getCause()) {
            text.append(" <- caused by ").append(cause);
        }
        return text.toString();
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    private static int finish(PrintStream out, ObjectNode summary, boolean ok, String error, int code) {
        summary.put("ok", ok);
        summary.put("error", error);
        summary.put("exitCode", code);
        try {
            out.println(JSON.writeValueAsString(summary));
        } catch (IOException e) {
            out.println("{\"ok\":false,\"error\":\"could not write the summary\"}");
        }
        out.flush();
        return code;
    }
}
