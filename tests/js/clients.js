// kafkajs as an independent client for tests/integration/kafkajs.rs.
// usage: node clients.js <kafkajs1|kafkajs2> <bootstrap> <topic> produce <label> <count>
//        node clients.js <kafkajs1|kafkajs2> <bootstrap> <topic> consume <group> <expected>
// produce: <count> gzip-compressed messages keyed <label>, values <label>/<i>; prints "ok".
// consume: joins <group>, reads <expected> messages from the beginning, prints "key value" lines.
const [pkg, bootstrap, topic, mode, name, n] = process.argv.slice(2)
const { Kafka, CompressionTypes, logLevel } = require(pkg)
const kafka = new Kafka({ clientId: pkg, brokers: [bootstrap], logLevel: logLevel.ERROR })
const count = parseInt(n, 10)

async function produce() {
  const p = kafka.producer()
  await p.connect()
  const messages = []
  for (let i = 0; i < count; i++) messages.push({ key: name, value: `${name}/${i}` })
  await p.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages })
  await p.disconnect()
  console.log('ok')
}

async function consume() {
  const c = kafka.consumer({ groupId: name })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  const lines = []
  await new Promise((resolve) => {
    c.run({
      eachMessage: async ({ message }) => {
        lines.push(`${message.key.toString()} ${message.value.toString()}`)
        if (lines.length >= count) resolve()
      },
    })
  })
  await c.disconnect()
  console.log(lines.join('\n'))
}

const timer = setTimeout(() => { console.error('timed out'); process.exit(2) }, 120000)
;(mode === 'produce' ? produce() : consume())
  .then(() => { clearTimeout(timer); process.exit(0) })
  .catch((e) => { console.error(e); process.exit(1) })
