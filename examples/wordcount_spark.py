"""Count words over the example texts with pyspark on the cluster's Spark workers.

Run by `vc3tui --run examples/spark-wordcount.toml` as the entry point: VC3_SPARK_MASTER names the
master, SPARK_CONF_DIR holds the cluster's authentication secret (never on a command line).
"""

import os
import re
import sys
from pathlib import Path

from pyspark.sql import SparkSession


def main(folder):
    spark = SparkSession.builder.master(os.environ["VC3_SPARK_MASTER"]).appName("vc3-wordcount").getOrCreate()
    texts = [path.read_text() for path in sorted(Path(folder).glob("*.txt"))]
    words = spark.sparkContext.parallelize(texts, len(texts)).flatMap(lambda text: re.findall(r"[a-z']+", text.lower()))
    counts = words.map(lambda word: (word, 1)).reduceByKey(lambda a, b: a + b)
    top = counts.takeOrdered(5, key=lambda pair: -pair[1])
    print(f"{words.count()} words in {len(texts)} files; most common: {', '.join(f'{w} {n}' for w, n in top)}")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
