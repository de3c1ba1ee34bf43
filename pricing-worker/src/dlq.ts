/**
 * Dead letters: a message that can never be processed goes to the DLQ topic with its reason, so
 * it never blocks its partition. Key `<topic>-<partition>-<offset>` names the source message: a
 * DLQ record is produced before the source offset is committed, so a crash in between can repeat
 * it, and readers drop repeats by key (the producer is idempotent, so retries never repeat it).
 */
import type { Producer } from 'kafkajs';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  value: Buffer | null;
  reason: string;
}

export function deadLetterKey(d: Pick<DeadLetter, 'topic' | 'partition' | 'offset'>): string {
  return `${d.topic}-${d.partition}-${d.offset}`;
}

export async function sendDeadLetters(producer: Producer, dlqTopic: string, letters: DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  await producer.send({
    topic: dlqTopic,
    acks: -1,
    messages: letters.map((d) => ({
      key: deadLetterKey(d),
      value: d.value,
      headers: {
        reason: d.reason,
        source_topic: d.topic,
        source_partition: String(d.partition),
        source_offset: d.offset,
      },
    })),
  });
}
